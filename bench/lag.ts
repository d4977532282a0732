/**
 * The lag of the pipeline's consumer groups (data-processing on events.raw; analytics and
 * notifications on events.processed), and waiting for it to reach 0, so that a benchmark run
 * inherits no backlog from the one before it.
 */
import { sleep } from '../src/core/sleep';
import type { TopicsKafka } from '../src/infra/kafka/client';
import { groupDetail } from '../src/topics/inspect';

export const WATCHED = [
  { group: 'data-processing', topic: 'events.raw' },
  { group: 'analytics', topic: 'events.processed' },
  { group: 'notifications', topic: 'events.processed' },
];

export async function lagOf(kafka: TopicsKafka): Promise<Record<string, number>> {
  const lags = await Promise.all(
    WATCHED.map(async ({ group, topic }) => {
      const detail = await groupDetail(kafka, group);
      // A partition with nothing committed yet still has its whole log to read.
      return [group, detail.partitions.filter((p) => p.topic === topic).reduce((sum, p) => sum + (p.lag ?? p.end), 0)] as const;
    }),
  );
  return Object.fromEntries(lags);
}

export async function drain(kafka: TopicsKafka, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (Object.values(await lagOf(kafka)).every((lag) => lag === 0)) return true;
    if (Date.now() > deadline) return false;
    await sleep(1_000);
  }
}

