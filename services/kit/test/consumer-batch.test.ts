/**
 * processBatch with fakes: a handler that is atomic per call (like a transaction), a
 * dead-letter sink, and offsets. No broker: the order of calls is the behaviour under test.
 */
import { describe, expect, it } from 'vitest';
import { CircuitOpenError } from '../src/circuit-breaker';
import { processBatch, type BatchHandler, type BatchProcessorDeps, type DeadLetterItem } from '../src/consumer-batch';
import type { ConsumedRecord } from '../src/records';

/** `event: null` is a value that is not a CloudEvent. */
const record = (offset: number, event: object | null = { id: `e${offset}` }): ConsumedRecord => ({
  topic: 't',
  partition: 0,
  offset: String(offset),
  key: null,
  headers: {},
  value: Buffer.from(JSON.stringify(event ?? 'x')),
  timestamp: '0',
  event: (event ?? undefined) as ConsumedRecord['event'],
  invalidReason: event ? undefined : 'value is not JSON',
  rawKey: null,
  rawHeaders: {},
});

const pgDataError = () => Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' });

interface Harness {
  deps: BatchProcessorDeps;
  applied: string[];
  calls: number[][];
  deadLetters: DeadLetterItem[];
  resolved: number[];
  sleeps: number[];
}

/** A handler that applies a whole call or nothing, failing when `fails` says so for any record in it. */
function harness(fails: (record: ConsumedRecord, call: number) => Error | undefined, overrides: Partial<BatchProcessorDeps> = {}): Harness {
  const h: Harness = { applied: [], calls: [], deadLetters: [], resolved: [], sleeps: [], deps: undefined as unknown as BatchProcessorDeps };
  const handle: BatchHandler = async (records) => {
    const call = h.calls.push(records.map((r) => Number(r.offset)));
    for (const r of records) {
      const error = fails(r, call);
      if (error) throw error;
    }
    for (const r of records) h.applied.push(r.offset);
  };
  h.deps = {
    handle,
    deadLetter: async (items) => {
      h.deadLetters.push(...items);
    },
    resolve: (r) => {
      const offset = Number(r.offset);
      expect(offset).toBeGreaterThan(h.resolved.at(-1) ?? -1);
      h.resolved.push(offset);
    },
    active: () => true,
    heartbeat: async () => undefined,
    sleep: async (ms) => {
      h.sleeps.push(ms);
    },
    policy: { maxAttempts: 3, retryBaseMs: 100, retryMaxMs: 1_000 },
    ...overrides,
  };
  return h;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('processBatch', () => {
  it('applies a clean batch in one call and resolves its last offset', async () => {
    const h = harness(() => undefined);
    await expect(processBatch(range(5).map((i) => record(i)), h.deps)).resolves.toBe('done');
    expect(h.calls).toEqual([[0, 1, 2, 3, 4]]);
    expect(h.resolved).toEqual([4]);
    expect(h.deadLetters).toEqual([]);
  });

  it('splits a batch with a record PostgreSQL refuses until that record is alone; every other one is applied exactly once', async () => {
    const h = harness((r) => (r.offset === '137' ? pgDataError() : undefined));
    await processBatch(range(300).map((i) => record(i)), h.deps);
    expect(h.deadLetters.map((d) => d.record.offset)).toEqual(['137']);
    expect(h.deadLetters[0]!.cause).toMatchObject({ class: 'data', code: '22021', attempts: 1 });
    expect(h.applied).toHaveLength(299);
    expect(new Set(h.applied).size).toBe(299);
    expect(h.applied).not.toContain('137');
    expect(h.resolved.at(-1)).toBe(299);
    // Bisection: a handful of calls, not one per record.
    expect(h.calls.length).toBeLessThan(25);
  });

  it('isolates several bad records in one batch', async () => {
    const bad = new Set(['0', '7', '8', '63']);
    const h = harness((r) => (bad.has(r.offset) ? pgDataError() : undefined));
    await processBatch(range(64).map((i) => record(i)), h.deps);
    expect(h.deadLetters.map((d) => d.record.offset)).toEqual(['0', '7', '8', '63']);
    expect(h.applied.sort()).toEqual(range(64).map(String).filter((o) => !bad.has(o)).sort());
    expect(h.resolved.at(-1)).toBe(63);
  });

  it('tries a record that throws for no known reason maxAttempts times, alone, before it is dead-lettered', async () => {
    const h = harness((r) => (r.offset === '2' ? new TypeError("Cannot read properties of undefined (reading 'title')") : undefined));
    await processBatch(range(4).map((i) => record(i)), h.deps);
    expect(h.calls.filter((c) => c.length === 1 && c[0] === 2)).toHaveLength(3);
    expect(h.deadLetters).toHaveLength(1);
    expect(h.deadLetters[0]!.cause).toMatchObject({ class: 'handler', code: 'TypeError', attempts: 3 });
    expect(h.sleeps).toEqual([100, 200]);
    expect(h.applied.sort()).toEqual(['0', '1', '3']);
  });

  it('keeps a record that fails once and then passes (a flaky handler is not a poison record)', async () => {
    const h = harness((r, call) => (r.offset === '1' && call <= 2 ? new Error('flaky') : undefined));
    await processBatch(range(3).map((i) => record(i)), h.deps);
    expect(h.deadLetters).toEqual([]);
    expect(h.applied.sort()).toEqual(['0', '1', '2']);
  });

  it('waits out a failure of the world on the same records, without splitting or dead-lettering, and backs off', async () => {
    let down = 4;
    const h = harness(() => (down-- > 0 ? new CircuitOpenError('postgres', 1_000) : undefined));
    await processBatch(range(10).map((i) => record(i)), h.deps);
    expect(h.calls).toHaveLength(5);
    for (const call of h.calls) expect(call).toEqual(range(10));
    expect(h.sleeps).toEqual([100, 200, 400, 800]);
    expect(h.deadLetters).toEqual([]);
    expect(h.resolved).toEqual([9]);
  });

  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['PostgreSQL shutting down (57P01)', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['a deadlock (40P01)', Object.assign(new Error('deadlock detected'), { code: '40P01' })],
    ['a missing table (42P01)', Object.assign(new Error('relation "x" does not exist'), { code: '42P01' })],
    ['a breaker timeout', Object.assign(new Error('postgres: no answer within 5000 ms'), { code: 'ETIMEDOUT' })],
  ])('treats %s as a failure of the world', async (_what, error) => {
    let failing = true;
    const h = harness(() => (failing ? error : undefined));
    h.deps.sleep = async () => {
      failing = false;
    };
    await processBatch([record(0), record(1)], h.deps);
    expect(h.calls).toEqual([[0, 1], [0, 1]]);
    expect(h.deadLetters).toEqual([]);
  });

  it('stops when the consumer stops while waiting, resolving only what was applied', async () => {
    let running = true;
    const h = harness((r) => (r.offset === '3' ? new CircuitOpenError('postgres', 1_000) : undefined), {
      active: () => running,
    });
    h.deps.sleep = async () => {
      running = false;
    };
    const bad = pgDataError();
    // First a record error splits the batch, then the world fails on the right half.
    let first = true;
    const inner = h.deps.handle;
    h.deps.handle = async (records) => {
      if (first && records.length > 1) {
        first = false;
        throw bad;
      }
      return inner(records);
    };
    await expect(processBatch(range(6).map((i) => record(i)), h.deps)).resolves.toBe('interrupted');
    expect(h.resolved).toEqual([2]);
    expect(h.applied.sort()).toEqual(['0', '1', '2']);
  });

  it('dead-letters values that are not CloudEvents without calling the handler with them', async () => {
    const h = harness(() => undefined);
    await processBatch([record(0), record(1, null), record(2)], h.deps);
    expect(h.calls).toEqual([[0, 2]]);
    expect(h.deadLetters.map((d) => [d.record.offset, d.cause.class, d.cause.reason])).toEqual([['1', 'invalid-event', 'value is not JSON']]);
    expect(h.resolved.at(-1)).toBe(2);
  });

  it('dead-letters what the handler returns as rejected, after its call succeeded', async () => {
    const records = range(3).map((i) => record(i));
    const h = harness(() => undefined);
    const inner = h.deps.handle;
    h.deps.handle = async (list) => {
      await inner(list);
      return { rejected: [{ record: records[1]!, reason: 'type "A B" is not valid' }] };
    };
    await processBatch(records, h.deps);
    expect(h.deadLetters.map((d) => [d.record.offset, d.cause.class, d.cause.reason])).toEqual([['1', 'rejected', 'type "A B" is not valid']]);
    expect(h.resolved).toEqual([2]);
  });

  it('keeps trying to write a dead letter while Kafka is away, and resolves only after it was written', async () => {
    let refusals = 2;
    const h = harness((r) => (r.offset === '0' ? pgDataError() : undefined));
    const sink = h.deps.deadLetter!;
    h.deps.deadLetter = async (items) => {
      if (refusals-- > 0) throw new CircuitOpenError('kafka', 1_000);
      await sink(items);
    };
    await processBatch([record(0)], h.deps);
    expect(h.sleeps).toEqual([100, 200]);
    expect(h.deadLetters).toHaveLength(1);
    expect(h.resolved).toEqual([0]);
  });

  it('without dead letters, retries a failing record in place for as long as it fails', async () => {
    let tries = 0;
    const h = harness(() => (++tries < 6 ? pgDataError() : undefined), { deadLetter: undefined });
    await processBatch([record(0), record(1, null)], h.deps);
    expect(h.calls).toEqual([[0, 1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 1]]);
    expect(h.resolved).toEqual([1]);
  });
});
