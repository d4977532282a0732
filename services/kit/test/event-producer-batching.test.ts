/**
 * Group commit in EventProducer, against a fake Kafka: sends made while a batch is in flight
 * wait for its acknowledgement and then leave together, in one request; but when no answer
 * comes, they go out on their own, so each fails within its own timeout.
 */
import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { EventProducer } from '../src/kafka';
import { ServiceMetrics } from '../src/metrics';
import { setTimeout as sleep } from 'node:timers/promises';

function fakeKafka() {
  const requests: Array<{ messages: number; ack: () => void }> = [];
  const kafka = {
    producer: () => ({
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: ({ topicMessages }: { topicMessages: Array<{ messages: unknown[] }> }) =>
        new Promise<void>((resolve) => requests.push({ messages: topicMessages.reduce((n, t) => n + t.messages.length, 0), ack: resolve })),
    }),
  } as unknown as Kafka;
  return { kafka, requests };
}


const settle = () => sleep(5);

describe('EventProducer batching', () => {
  it('sends what queued during a request as one request once it is acknowledged, and settles each caller with its batch', async () => {
    const { kafka, requests } = fakeKafka();
    const metrics = new ServiceMetrics('producer-batching');
    const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
    const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics, lingerMs: 1 });
    const message = { key: 'k', value: 'v' };
    const settled: string[] = [];
    const first = producer.send('t', [message]).then(() => settled.push('first'));
    await settle();
    expect(requests.map((r) => r.messages)).toEqual([1]);
    const later = Array.from({ length: 5 }, (_, i) => producer.send('t', [message, message]).then(() => settled.push(`later-${i}`)));
    await settle();
    // Still one request: the five wait for the first to be acknowledged.
    expect(requests).toHaveLength(1);
    requests[0]!.ack();
    await first;
    await settle();
    expect(requests.map((r) => r.messages)).toEqual([1, 10]);
    expect(settled).toEqual(['first']);
    requests[1]!.ack();
    await Promise.all(later);
    expect(settled).toEqual(['first', 'later-0', 'later-1', 'later-2', 'later-3', 'later-4']);
    const closing = producer.close();
    await closing;
    circuits.shutdown();
  });

  it('does not hold sends behind a batch the broker never answers', async () => {
    const { kafka, requests } = fakeKafka();
    const metrics = new ServiceMetrics('producer-batching-stuck');
    const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
    const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics, lingerMs: 1 });
    void producer.send('t', [{ key: 'k', value: 'v' }]);
    await settle();
    void producer.send('t', [{ key: 'k', value: 'v' }]);
    await sleep(60);
    expect(requests).toHaveLength(2);
    for (const request of requests) request.ack();
    await producer.close();
    circuits.shutdown();
  });
});
