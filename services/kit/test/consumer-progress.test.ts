/** The consumer's own account of its progress, as /health reports it, on an injected clock. */
import { describe, expect, it } from 'vitest';
import { ConsumerProgress } from '../src/consumer-progress';
import { classifyFailure } from '../src/failures';

function clock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('ConsumerProgress', () => {
  it('fails until it has joined its group, then passes with lag 0', () => {
    const time = clock();
    const progress = new ConsumerProgress('g', { now: time.now, stallAfterMs: 30_000 });
    expect(progress.report()).toMatchObject({ status: 'fail', output: 'stopped: not started' });
    progress.assigned({ t: [0, 1] });
    expect(progress.report()).toMatchObject({ status: 'pass', observedValue: 0, observedUnit: 'records', lastProgress: null, deadLetters5m: 0 });
  });

  it('reports lag from the last batch, and a stall when a partition with records has not moved for stallAfterMs', () => {
    const time = clock();
    const progress = new ConsumerProgress('g', { now: time.now, stallAfterMs: 30_000 });
    progress.assigned({ 'events.processed': [0] });
    progress.fetched('events.processed', 0, 28_350, 28_400);
    progress.failed('events.processed', 0, '28350', classifyFailure(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' })));
    time.advance(29_000);
    expect(progress.report()).toMatchObject({ status: 'pass', observedValue: 50 });
    time.advance(2_000);
    const stalled = progress.report();
    expect(stalled.status).toBe('warn');
    expect(stalled.output).toBe('stalled on events.processed[0] at offset 28350 for 31 s: invalid byte sequence for encoding "UTF8": 0x00');
    expect(stalled.partitions[0]).toMatchObject({ topic: 'events.processed', partition: 0, lag: 50, blockedOn: { offset: '28350', code: '22021' } });

    progress.resolved('events.processed', 0, 28_399);
    const moved = progress.report();
    expect(moved).toMatchObject({ status: 'pass', observedValue: 0, lastProgress: new Date(time.now()).toISOString() });
    expect(moved.partitions[0]!.blockedOn).toBeNull();
  });

  it('is not stalled while it keeps moving, however large its lag', () => {
    const time = clock();
    const progress = new ConsumerProgress('g', { now: time.now, stallAfterMs: 1_000 });
    progress.assigned({ t: [0] });
    progress.fetched('t', 0, 0, 1_000_000);
    for (let offset = 0; offset < 100; offset++) {
      time.advance(900);
      progress.resolved('t', 0, offset);
    }
    expect(progress.report()).toMatchObject({ status: 'pass', observedValue: 1_000_000 - 100 });
  });

  it('counts its dead letters over the last five minutes', () => {
    const time = clock();
    const progress = new ConsumerProgress('g', { now: time.now, stallAfterMs: 30_000 });
    progress.assigned({ t: [0] });
    progress.deadLettered(2);
    time.advance(60_000);
    progress.deadLettered(1);
    expect(progress.report().deadLetters5m).toBe(3);
    time.advance(4 * 60_000 + 20_000);
    expect(progress.report().deadLetters5m).toBe(1);
    time.advance(60_000);
    expect(progress.report().deadLetters5m).toBe(0);
  });

  it('fails while it is stopped, and forgets partitions it no longer owns after a rebalance', () => {
    const time = clock();
    const progress = new ConsumerProgress('g', { now: time.now, stallAfterMs: 30_000 });
    progress.assigned({ t: [0, 1] });
    progress.fetched('t', 1, 0, 10);
    progress.stopped('the group coordinator is gone; a new consumer starts in 2 s');
    expect(progress.report()).toMatchObject({ status: 'fail', output: 'stopped: the group coordinator is gone; a new consumer starts in 2 s' });
    progress.assigned({ t: [0] });
    expect(progress.report()).toMatchObject({ status: 'pass', observedValue: 0 });
    expect(progress.report().partitions.map((p) => p.partition)).toEqual([0]);
  });
});

describe('classifyFailure', () => {
  const pg = (code: string, extra: object = {}) => Object.assign(new Error(`pg ${code}`), { code, ...extra });
  it.each([
    ['22021', 'record'],
    ['22P05', 'record'],
    ['22008', 'record'],
    ['23502', 'record'],
    ['08006', 'retry'],
    ['53300', 'retry'],
    ['57P01', 'retry'],
    ['57014', 'retry'],
    ['40001', 'retry'],
    ['40P01', 'retry'],
    ['42P01', 'retry'],
  ])('SQLSTATE %s is a %s failure', (code, kind) => {
    expect(classifyFailure(pg(code)).kind).toBe(kind);
  });

  it('retries a conflict on the idempotency table itself', () => {
    expect(classifyFailure(pg('23505', { constraint: 'processed_events_pkey' })).kind).toBe('retry');
    expect(classifyFailure(pg('23505', { constraint: 'notifications_event_id_kind_key' }))).toMatchObject({ kind: 'record', class: 'data' });
  });

  it('looks through causes, and knows pg client errors without a SQLSTATE', () => {
    expect(classifyFailure(new Error('wrapped', { cause: pg('22021') })).kind).toBe('record');
    expect(classifyFailure(new Error('Connection terminated unexpectedly')).kind).toBe('retry');
    expect(classifyFailure(new Error('timeout exceeded when trying to connect')).kind).toBe('retry');
    expect(classifyFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).kind).toBe('retry');
    expect(classifyFailure(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })).kind).toBe('retry');
  });

  it('suspects what it cannot explain', () => {
    expect(classifyFailure(new TypeError('x is undefined'))).toMatchObject({ kind: 'suspect', code: 'TypeError' });
    expect(classifyFailure('a string')).toMatchObject({ kind: 'suspect' });
  });
});
