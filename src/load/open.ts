/**
 * The open model (wrk2-style): requests arrive on a fixed schedule — request i is due at
 * start + i / rate — whether or not earlier ones have been answered. Latency is measured from
 * the *intended* send time, so time spent waiting for a free connection, or behind a stalled
 * server, is in the figures (no coordinated omission). autocannon's `overallRate` throttles a
 * closed loop instead and would hide exactly that wait, hence this small generator on an
 * undici Pool.
 */
import { Pool } from 'undici';
import type { DriveOptions, DriveOutcome } from './closed';
import { createGenerator } from './template';

export interface OpenOptions extends DriveOptions {
  rate: number;
}

export async function driveOpen(options: OpenOptions): Promise<DriveOutcome & { late: number }> {
  const { recorder } = options;
  const generator = createGenerator(options.plan, () => undefined);
  const pool = new Pool(options.baseUrl, {
    connections: options.connections,
    pipelining: 1,
    headersTimeout: options.timeoutSeconds * 1000,
    bodyTimeout: options.timeoutSeconds * 1000,
    keepAliveTimeout: 10_000,
  });
  const interval = 1000 / options.rate;
  const start = performance.now();
  const end = start + options.durationSeconds * 1000;
  let scheduled = 0;
  let inFlight = 0;
  let late = 0;
  let timeouts = 0;
  let errors = 0;
  let drained: (() => void) | undefined;

  const fire = (intended: number) => {
    const request = generator.next();
    inFlight++;
    // More requests due than connections free: this one waits in the pool's queue (and that wait is counted).
    if (inFlight > options.connections) late++;
    pool
      .request({ method: request.method as 'GET', path: request.path, headers: request.headers, body: request.body })
      .then(async (response) => {
        const body = await response.body.text();
        const now = performance.now();
        recorder.record(request.group, response.statusCode, now - intended, generator.acceptedIn(request.group, response.statusCode, body), undefined, now);
      })
      .catch((error: { code?: string }) => {
        const code = error.code ?? 'ERROR';
        if (code.includes('TIMEOUT')) timeouts++;
        errors++;
        recorder.record(request.group, 0, performance.now() - intended, 0, code);
      })
      .finally(() => {
        inFlight--;
        if (inFlight === 0 && drained) drained();
      });
  };

  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (options.signal?.aborted || now >= end) return resolve();
      // Every request whose time has come, even when the loop itself ran late.
      while (start + scheduled * interval <= now && start + scheduled * interval < end) {
        fire(start + scheduled * interval);
        scheduled++;
      }
      const wait = start + scheduled * interval - performance.now();
      setTimeout(tick, Math.max(0, Math.min(wait, 50)));
    };
    tick();
  });
  const durationSeconds = (performance.now() - start) / 1000;
  if (inFlight > 0) {
    // Answers still due: wait for them (bounded by the request timeout).
    await new Promise<void>((resolve) => {
      drained = resolve;
      setTimeout(resolve, options.timeoutSeconds * 1000 + 1000).unref();
    });
  }
  await pool.close().catch(() => undefined);
  return {
    durationSeconds,
    generator: `msctl open-model generator (undici Pool, ${options.connections} connections, ${options.rate} req/s scheduled)`,
    generatorErrors: errors,
    generatorTimeouts: timeouts,
    unanswered: inFlight,
    late,
  };
}
