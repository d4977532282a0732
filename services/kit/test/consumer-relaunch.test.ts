/**
 * startConsumer's relaunch of a consumer that kafkajs gave up on (a crash with restart=false),
 * against a fake kafkajs consumer factory and fake timers: how long it waits between relaunches
 * and when that wait starts over, stop() with a relaunch pending or starting, and a relaunch that
 * fails in its turn. Delays are read from the fake clock, never from the wall clock.
 */
import type { Consumer, EachBatchPayload } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCloudEvent } from '../src/cloudevents';
import { startConsumer, type RunningConsumer } from '../src/consumer';
import { ServiceMetrics } from '../src/metrics';
import { capturingLogger } from '../src/testing';

const TOPIC = 'orders';
const EVENTS = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' } as const;

type Step = 'connect' | 'subscribe' | 'run';

/** What one fake consumer does when started; by default every step succeeds and it joins. */
interface Plan {
  /** This step rejects with this error. */
  fail?: { step: Step; error: Error };
  /** connect() waits for this (a consumer still starting). */
  connectGate?: Promise<void>;
  /** Inside run(), the join fails the way kafkajs reports it: a crash event, then run() resolves. */
  crashInRun?: Error;
}

class FakeConsumer {
  readonly events = EVENTS;
  readonly createdAt = Date.now();
  disconnects = 0;
  eachBatch: ((payload: EachBatchPayload) => Promise<void>) | undefined;
  private readonly listeners = new Map<string, Array<(event: { payload: unknown }) => void>>();

  constructor(private readonly plan: Plan) {}

  on(name: string, listener: (event: { payload: unknown }) => void): () => void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    return () => undefined;
  }

  async connect(): Promise<void> {
    await this.plan.connectGate;
    this.failAt('connect');
  }

  async subscribe(): Promise<void> {
    this.failAt('subscribe');
  }

  async run(config: { eachBatch: (payload: EachBatchPayload) => Promise<void> }): Promise<void> {
    this.failAt('run');
    this.eachBatch = config.eachBatch;
    if (this.plan.crashInRun) return this.crash(this.plan.crashInRun);
    this.emit(EVENTS.GROUP_JOIN, { memberAssignment: { [TOPIC]: [0] } });
  }

  async disconnect(): Promise<void> {
    this.disconnects += 1;
  }

  /** Offsets committed, in order. */
  readonly committed: Array<Array<{ topic: string; partition: number; offset: string }>> = [];
  /** A commit never answers (Kafka unreachable). */
  commitHangs = false;

  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void> {
    if (this.commitHangs) return new Promise(() => undefined);
    this.committed.push(offsets);
  }

  /** kafkajs gives up on this consumer: it disconnects it, then says it will not restart it. */
  crash(error: Error = new TypeError("Cannot read properties of undefined (reading 'id')")): void {
    this.disconnects += 1;
    this.emit(EVENTS.CRASH, { error, groupId: 'g', restart: false });
  }

  /** One batch of one record, handled and resolved: the consumer makes progress. */
  async consumeOne(offset: number): Promise<void> {
    const value = Buffer.from(JSON.stringify(createCloudEvent({ type: 'order.placed', source: '/test', subject: `o-${offset}`, data: {} })));
    const batch = {
      topic: TOPIC,
      partition: 0,
      highWatermark: String(offset + 1),
      messages: [{ offset: String(offset), key: null, value, headers: {}, timestamp: '0' }],
      firstOffset: () => String(offset),
    };
    const payload = {
      batch,
      resolveOffset: () => undefined,
      heartbeat: async () => undefined,
      commitOffsetsIfNecessary: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
    };
    await this.eachBatch!(payload as unknown as EachBatchPayload);
  }

  private failAt(step: Step): void {
    if (this.plan.fail?.step === step) throw this.plan.fail.error;
  }

  private emit(name: string, payload: unknown): void {
    for (const listener of this.listeners.get(name) ?? []) listener({ payload });
  }
}

let consumers: FakeConsumer[];
let plans: Plan[];
let logLines: Array<{ level: number; msg: string }>;
let running: RunningConsumer | undefined;

const metrics = new ServiceMetrics('consumer-relaunch-test');

async function start(): Promise<RunningConsumer> {
  const { logger, lines } = capturingLogger();
  logLines = lines;

  const kafka = {
    consumer: () => {
      const consumer = new FakeConsumer(plans[consumers.length] ?? {});
      consumers.push(consumer);
      return consumer as unknown as Consumer;
    },
  };
  running = await startConsumer({
    kafka,
    groupId: 'g',
    topics: [TOPIC],
    metrics,
    logger,
    handleBatch: async () => undefined,
    now: () => Date.now(),
  });
  return running;
}

/** Lets the promise chains started by a timer run to their end (setImmediate is not faked). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

const latest = () => consumers.at(-1)!;

/** Runs the pending relaunch; returns how long it waited since `crashedAt` (fake clock). */
async function nextRelaunch(crashedAt: number): Promise<number> {
  const before = consumers.length;
  expect(vi.getTimerCount()).toBe(1);
  await vi.advanceTimersToNextTimerAsync();
  await settle();
  expect(consumers).toHaveLength(before + 1);
  return latest().createdAt - crashedAt;
}

/** Crashes the latest consumer and waits for its replacement; returns the wait. */
async function crashAndRelaunch(): Promise<number> {
  const crashedAt = Date.now();
  latest().crash();
  return nextRelaunch(crashedAt);
}

const errors = () => logLines.filter((line) => line.level === 50).map((line) => line.msg);

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: Date.parse('2026-12-01T12:00:00Z') });
  consumers = [];
  plans = [];
  logLines = [];
  running = undefined;
});

afterEach(async () => {
  await running?.stop();
  vi.useRealTimers();
});

describe('startConsumer relaunch', () => {
  it('waits longer before each relaunch while new consumers crash without progress, up to a cap', async () => {
    const consumer = await start();
    const waits: number[] = [];
    // Each new consumer joins its group, then crashes on its first batch: joining is no progress.
    for (let i = 0; i < 8; i++) waits.push(await crashAndRelaunch());
    expect(consumers).toHaveLength(9);
    for (let i = 1; i < 5; i++) expect(waits[i]).toBe(2 * waits[i - 1]!);
    const cap = Math.max(...waits);
    expect(waits.slice(-2)).toEqual([cap, cap]);
    expect(consumers.slice(0, -1).every((c) => c.disconnects > 0)).toBe(true);
    expect(consumer.progress.report().status).toBe('pass');
  });

  it('says the consumer is stopped, and why, until the new one has joined', async () => {
    const consumer = await start();
    expect(consumer.progress.report().status).toBe('pass');
    latest().crash(new RangeError('offset out of range of the batch'));
    const report = consumer.progress.report();
    expect(report.status).toBe('fail');
    expect(report.output).toMatch(/offset out of range of the batch; a new consumer starts in/);
    await nextRelaunch(Date.now());
    expect(consumer.progress.report().status).toBe('pass');
  });

  it('waits the first back-off again once a relaunched consumer applied a record', async () => {
    await start();
    const first = await crashAndRelaunch();
    const grown = [await crashAndRelaunch(), await crashAndRelaunch()];
    expect(grown[1]).toBeGreaterThan(first);
    await latest().consumeOne(0);
    expect(await crashAndRelaunch()).toBe(first);
    expect(await crashAndRelaunch()).toBe(2 * first);
  });

  it('waits the first back-off again once a relaunched consumer stayed up for the healthy period, not before', async () => {
    await start();
    const first = await crashAndRelaunch();
    await crashAndRelaunch();
    await vi.advanceTimersByTimeAsync(1_000);
    const third = await crashAndRelaunch();
    expect(third).toBe(4 * first);
    // Idle but up: no record to apply, and nothing wrong for a long while.
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(await crashAndRelaunch()).toBe(first);
  });

  it('stop() commits what was applied before it disconnects', async () => {
    const consumer = await start();
    await latest().consumeOne(7);
    await consumer.stop();
    expect(latest().committed).toEqual([[{ topic: TOPIC, partition: 0, offset: '8' }]]);
    expect(latest().disconnects).toBe(1);
  });

  it('stop() waits a few seconds at most for a commit Kafka does not answer, then disconnects', async () => {
    const consumer = await start();
    await latest().consumeOne(7);
    latest().commitHangs = true;
    let stopped = false;
    const stopping = consumer.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1_500);
    await stopping;
    running = undefined;
    expect(latest().disconnects).toBe(1);
  });

  it('stop() with a relaunch pending leaves no timer behind', async () => {
    const consumer = await start();
    latest().crash();
    expect(vi.getTimerCount()).toBe(1);
    await consumer.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() with a relaunch pending: no new consumer, then or later', async () => {
    const consumer = await start();
    latest().crash();
    await consumer.stop();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    await settle();
    expect(consumers).toHaveLength(1);
    // A late crash event of the old consumer starts nothing either.
    latest().crash();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    await settle();
    expect(consumers).toHaveLength(1);
    expect(errors().filter((msg) => /could not start/.test(msg))).toEqual([]);
  });

  it('stop() while the new consumer is still connecting: it is disconnected, nothing is relaunched or reported as failed', async () => {
    let refuse: (error: Error) => void = () => undefined;
    plans[1] = { connectGate: new Promise<void>((_, reject) => (refuse = reject)) };
    const consumer = await start();
    latest().crash();
    await nextRelaunch(Date.now());
    const starting = latest();
    const stopped = consumer.stop();
    await settle();
    expect(starting.disconnects).toBeGreaterThan(0);
    // kafkajs fails a connect that a disconnect interrupted.
    refuse(new Error('The consumer was disconnected while connecting'));
    await stopped;
    await settle();
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(consumers).toHaveLength(2);
    expect(vi.getTimerCount()).toBe(0);
    expect(errors().filter((msg) => /could not start/.test(msg))).toEqual([]);
  });

  it.each<Step>(['connect', 'subscribe', 'run'])('a relaunch whose %s rejects is disconnected, reported in health and tried again after a longer wait', async (step) => {
    plans[1] = { fail: { step, error: new Error(`${step} refused: SASL authentication failed`) } };
    const consumer = await start();
    const first = await crashAndRelaunch();
    const failed = latest();
    expect(failed.disconnects).toBeGreaterThan(0);
    const report = consumer.progress.report();
    expect(report.status).toBe('fail');
    expect(report.output).toMatch(new RegExp(`could not start: ${step} refused: SASL authentication failed; a new consumer starts in`));
    expect(errors()).toContain('could not start the Kafka consumer again; retrying');
    const second = await nextRelaunch(Date.now());
    expect(second).toBe(2 * first);
    expect(consumers).toHaveLength(3);
    expect(consumer.progress.report().status).toBe('pass');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a relaunch whose join crashes inside run() keeps health failing and is tried again after a longer wait', async () => {
    plans[1] = { crashInRun: new TypeError('Cannot read properties of undefined (reading "memberAssignment")') };
    const consumer = await start();
    const first = await crashAndRelaunch();
    const report = consumer.progress.report();
    expect(report.status).toBe('fail');
    expect(report.output).toMatch(/reading "memberAssignment"\); a new consumer starts in/);
    expect(await nextRelaunch(Date.now())).toBe(2 * first);
    expect(consumer.progress.report().status).toBe('pass');
  });
});
