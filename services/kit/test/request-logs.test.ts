/**
 * What a request leaves in the log: every change and every refusal at info, a slow request as a
 * warning, a read that went well only at debug.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { HealthReporter } from '../src/health';
import { ServiceMetrics } from '../src/metrics';
import { createServer } from '../src/server';
import { setTimeout as sleep } from 'node:timers/promises';

async function serverLogging(level: string) {
  const lines: Array<{ level: number; msg: string; method?: string; url?: string; statusCode?: number }> = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const metrics = new ServiceMetrics('request-logs');
  const circuits = new CircuitRegistry({ timeoutMs: 1000, resetMs: 1000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
  const app = createServer({ logger: pino({ level }, sink), metrics, health: new HealthReporter('request-logs', '1', circuits), bodyLimitBytes: 1024, slowRequestMs: 50 });
  app.get('/things', async () => ({ ok: true }));
  app.post('/things', async () => ({ ok: true }));
  app.get('/slow', async () => {
    await sleep(80);
    return { ok: true };
  });
  const requests = (line: (typeof lines)[number]) => line.msg === 'request' || line.msg === 'slow request';
  return { app, logged: () => lines.filter(requests).map((l) => [pino.levels.labels[l.level], l.method, l.url, l.statusCode]) };
}

describe('request logs', () => {
  it('at info: changes, refusals and slow requests, not reads that went well', async () => {
    const { app, logged } = await serverLogging('info');
    await app.inject({ method: 'GET', url: '/things' });
    await app.inject({ method: 'POST', url: '/things', payload: {} });
    await app.inject({ method: 'GET', url: '/missing' });
    await app.inject({ method: 'GET', url: '/slow' });
    await app.inject({ method: 'GET', url: '/health' });
    expect(logged()).toEqual([
      ['info', 'POST', '/things', 200],
      ['info', 'GET', '/missing', 404],
      ['warn', 'GET', '/slow', 200],
    ]);
    await app.close();
  });

  it('at debug: every request but health and metrics', async () => {
    const { app, logged } = await serverLogging('debug');
    await app.inject({ method: 'GET', url: '/things' });
    await app.inject({ method: 'GET', url: '/metrics' });
    expect(logged()).toEqual([['debug', 'GET', '/things', 200]]);
    await app.close();
  });
});
