import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OffsetCommitter, type PartitionOffset } from '../src/offset-commits';

/** A commit that Kafka answers after `delayMs` (fake clock), or refuses while `refusals` says so. */
function fakeKafka(delayMs = 0) {
  const commits: PartitionOffset[][] = [];
  const state = { refusals: 0, inFlight: 0, overlapped: false };
  const commit = async (offsets: PartitionOffset[]) => {
    state.inFlight += 1;
    if (state.inFlight > 1) state.overlapped = true;
    try {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (state.refusals > 0) {
        state.refusals -= 1;
        throw new Error('The group is rebalancing, so a rejoin is needed');
      }
      commits.push(offsets);
    } finally {
      state.inFlight -= 1;
    }
  };
  return { commits, state, commit };
}

let errors: unknown[];
let committer: OffsetCommitter;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  errors = [];
  committer = new OffsetCommitter({ intervalMs: 1_000, onError: (error) => errors.push(error) });
});

afterEach(() => {
  committer.stop();
  vi.useRealTimers();
});

describe('OffsetCommitter', () => {
  it('commits once per interval what batches resolved meanwhile, as the next offset to read, and nothing when nothing moved', async () => {
    const kafka = fakeKafka();
    committer.start(kafka.commit);
    for (let offset = 0; offset < 50; offset++) {
      committer.resolved('t', offset % 2, String(offset));
      await vi.advanceTimersByTimeAsync(30);
    }
    // 50 batches over 1.5 s: one commit on the interval, not one per batch.
    expect(kafka.commits).toEqual([
      [
        { topic: 't', partition: 0, offset: '33' },
        { topic: 't', partition: 1, offset: '34' },
      ],
    ]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(kafka.commits.at(-1)).toEqual([
      { topic: 't', partition: 0, offset: '49' },
      { topic: 't', partition: 1, offset: '50' },
    ]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(kafka.commits).toHaveLength(2);
  });

  it('sends only the partitions that moved since the last commit', async () => {
    const kafka = fakeKafka();
    committer.resolved('a', 0, '9');
    committer.resolved('b', 3, '99');
    await committer.flush(kafka.commit);
    committer.resolved('b', 3, '100');
    await committer.flush(kafka.commit);
    expect(kafka.commits).toEqual([
      [
        { topic: 'a', partition: 0, offset: '10' },
        { topic: 'b', partition: 3, offset: '100' },
      ],
      [{ topic: 'b', partition: 3, offset: '101' }],
    ]);
  });

  it('keeps offsets whose commit failed pending for the next one, and never rejects', async () => {
    const kafka = fakeKafka();
    kafka.state.refusals = 1;
    committer.resolved('t', 0, '4');
    await expect(committer.flush(kafka.commit)).resolves.toBeUndefined();
    expect(errors).toHaveLength(1);
    expect(committer.pending()).toEqual([{ topic: 't', partition: 0, offset: '5' }]);
    await committer.flush(kafka.commit);
    expect(kafka.commits).toEqual([[{ topic: 't', partition: 0, offset: '5' }]]);
    expect(committer.pending()).toEqual([]);
  });

  it('never has two commits under way: a flush waits for the one in flight, then sends what moved since', async () => {
    const kafka = fakeKafka(100);
    committer.resolved('t', 0, '1');
    const first = committer.flush(kafka.commit);
    committer.resolved('t', 0, '2');
    const second = committer.flush(kafka.commit);
    await vi.advanceTimersByTimeAsync(250);
    await Promise.all([first, second]);
    expect(kafka.state.overlapped).toBe(false);
    expect(kafka.commits).toEqual([[{ topic: 't', partition: 0, offset: '3' }]]);
  });

  it('forgets partitions the group took away, and keeps those it left', async () => {
    const kafka = fakeKafka();
    committer.resolved('t', 0, '7');
    committer.resolved('t', 1, '8');
    committer.assigned({ t: [1, 2] });
    await committer.flush(kafka.commit);
    expect(kafka.commits).toEqual([[{ topic: 't', partition: 1, offset: '9' }]]);
  });

  it('counts past 2^53 without losing precision', async () => {
    const kafka = fakeKafka();
    committer.resolved('t', 0, '9007199254740993');
    await committer.flush(kafka.commit);
    expect(kafka.commits).toEqual([[{ topic: 't', partition: 0, offset: '9007199254740994' }]]);
  });

  it('with an interval of 0 it has no timer, and says a batch commits itself', () => {
    const everyBatch = new OffsetCommitter({ intervalMs: 0, onError: () => undefined });
    everyBatch.start(async () => undefined);
    expect(everyBatch.everyBatch).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
