/**
 * The closed model: autocannon's programmatic API, `connections` connections each sending its
 * next request as soon as the previous answer arrived. Latency is measured per request from
 * the moment it is written (autocannon builds each request right before it writes it).
 *
 * With `workers`, autocannon runs in worker threads; functions cannot cross into them, so the
 * generator's source is written to CommonJS files in a temp folder, and each worker reports its
 * answers to this thread over a BroadcastChannel.
 */
import autocannon from 'autocannon';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import type { Recorder } from './recorder';
import { createGenerator } from './template';
import type { Plan } from './types';
import { sleep } from '../core/sleep';

export interface DriveOptions {
  baseUrl: string;
  plan: Plan;
  durationSeconds: number;
  connections: number;
  timeoutSeconds: number;
  recorder: Recorder;
  signal?: AbortSignal;
}

export interface DriveOutcome {
  durationSeconds: number;
  generator: string;
  /** Connection-level figures the generator itself counted. */
  generatorErrors: number;
  generatorTimeouts: number;
  /** Requests sent whose answer never came (the run ended or they failed at connection level). */
  unanswered: number;
}

interface Instance {
  stop(): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
}

function runAutocannon(options: Record<string, unknown>, signal: AbortSignal | undefined, onError: (error: unknown) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options as unknown as autocannon.Options, (error: unknown, result: autocannon.Result) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result),
    ) as unknown as Instance;
    instance.on('reqError', onError);
    if (signal) {
      if (signal.aborted) instance.stop();
      else signal.addEventListener('abort', () => instance.stop(), { once: true });
    }
  });
}

const errorCode = (error: unknown): string => {
  const e = error as { code?: string; name?: string } | undefined;
  return e?.code ?? e?.name ?? 'ERROR';
};

export async function driveClosed(options: DriveOptions): Promise<DriveOutcome> {
  const started = performance.now();
  const plan: Plan = { ...options.plan, measureUntil: Date.now() + options.durationSeconds * 1000 };
  const generator = createGenerator(plan, (group, status, latency, accepted) => options.recorder.record(group, status, latency, accepted));
  const controller = new AbortController();
  const stopOn = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  // After the measured time, stop as soon as the last real request is answered (or its timeout passed).
  const hardEnd = plan.measureUntil! + options.timeoutSeconds * 1000;
  const watch = setInterval(() => {
    const now = Date.now();
    if ((now >= plan.measureUntil! && generator.outstanding() <= 0) || now >= hardEnd) controller.abort();
  }, 10);
  try {
    const result = await runAutocannon(
      {
        url: options.baseUrl,
        connections: options.connections,
        duration: options.durationSeconds + options.timeoutSeconds + 5,
        timeout: options.timeoutSeconds,
        // How often autocannon samples — and so how soon a stop takes effect.
        sampleInt: 50,
        requests: [{ setupRequest: generator.setupRequest, onResponse: generator.onResponse }],
      },
      stopOn,
      (error) => options.recorder.record('unknown', 0, 0, 0, errorCode(error)),
    );
    return {
      // Until the last answer: requests were sent for durationSeconds, the last answers trail a little.
      durationSeconds: Math.max(options.durationSeconds, (options.recorder.lastAt - started) / 1000),
      generator: `autocannon ${options.connections} connections`,
      generatorErrors: result.errors,
      generatorTimeouts: result.timeouts,
      unanswered: Math.max(0, generator.outstanding()),
    };
  } finally {
    clearInterval(watch);
  }
}

/** Source of the CommonJS module each worker thread loads: the generator plus a BroadcastChannel back. */
export function workerModuleSource(plan: Plan, channel: string): string {
  return [
    "'use strict';",
    "const { BroadcastChannel, threadId } = require('node:worker_threads');",
    `const plan = ${JSON.stringify(plan)};`,
    `const createGenerator = ${createGenerator.toString()};`,
    `const channel = new BroadcastChannel(${JSON.stringify(channel)});`,
    'channel.unref();',
    'const generator = createGenerator(plan, (group, status, latency, accepted) => channel.postMessage([group, status, latency, accepted]));',
    // After the measured time: tell the main thread how many real requests still await an answer.
    'const setupRequest = (request, context) => {',
    '  const built = generator.setupRequest(request, context);',
    "  if (context.group === '__drain') channel.postMessage(['__outstanding', threadId, generator.outstanding()]);",
    '  return built;',
    '};',
    'module.exports = { setupRequest, onResponse: generator.onResponse };',
    '',
  ].join('\n');
}

/** Seconds after the measured time in which worker threads send only drain requests while the last answers arrive. */
export const WORKER_DRAIN_SECONDS = 2;

export async function driveWorkers(options: DriveOptions & { workers: number }): Promise<DriveOutcome> {
  const dir = await mkdtemp(join(tmpdir(), 'msctl-load-'));
  const name = `msctl-load-${options.plan.runId}-${Math.random().toString(36).slice(2)}`;
  const channel = new BroadcastChannel(name);
  const outstanding = new Map<number, number>();
  let lastAnswer = performance.now();
  channel.onmessage = (event) => {
    const data = (event as MessageEvent).data as [string, number, number, number];
    if (data[0] === '__outstanding') {
      outstanding.set(data[1], data[2]);
      return;
    }
    lastAnswer = performance.now();
    options.recorder.record(data[0], data[1], data[2], data[3]);
  };
  const plan: Plan = { ...options.plan, measureUntil: Date.now() + options.durationSeconds * 1000 };
  try {
    await writeFile(join(dir, 'generator.cjs'), workerModuleSource(plan, name));
    await writeFile(join(dir, 'setup-request.cjs'), "module.exports = require('./generator.cjs').setupRequest;\n");
    await writeFile(join(dir, 'on-response.cjs'), "module.exports = require('./generator.cjs').onResponse;\n");
    const started = performance.now();
    const result = await runAutocannon(
      {
        url: options.baseUrl,
        connections: options.connections,
        // autocannon cannot be stopped early in worker mode: a fixed drain window follows the measured time.
        duration: options.durationSeconds + WORKER_DRAIN_SECONDS,
        timeout: options.timeoutSeconds,
        workers: options.workers,
        requests: [{ setupRequest: join(dir, 'setup-request.cjs'), onResponse: join(dir, 'on-response.cjs') }],
      },
      options.signal,
      () => undefined,
    );
    // Messages the workers posted last are still in flight: let them land.
    await sleep(250);
    const durationSeconds = Math.max(options.durationSeconds, (lastAnswer - started) / 1000);
    // Connection errors happen in the workers; autocannon's totals are the only count of them.
    const missing = result.errors - options.recorder.errors;
    for (let i = 0; i < missing; i++) options.recorder.record('unknown', 0, 0, 0, 'connection error');
    return {
      durationSeconds,
      generator: `autocannon ${options.connections} connections in ${options.workers} worker threads`,
      generatorErrors: result.errors,
      generatorTimeouts: result.timeouts,
      unanswered: [...outstanding.values()].reduce((sum, n) => sum + Math.max(0, n), 0),
    };
  } finally {
    channel.close();
    await rm(dir, { recursive: true, force: true });
  }
}
