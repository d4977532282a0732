/** The dashboard's kafkajs request queues arm no timer while idle, and still do when a request waits. */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { quietIdleKafkaQueues } from '../../src/dashboard/kafka-idle';

type Queue = { pending: unknown[]; throttledUntil: number; throttleCheckTimeoutId: NodeJS.Timeout | null | undefined; checkPendingRequests(): void };
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const queue = () => new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 1000, clientId: 'test', broker: 'localhost:9092', logger });

describe('quietIdleKafkaQueues', () => {
  it('an answered request with nothing pending leaves no timer behind (kafkajs alone re-arms one every millisecond)', () => {
    quietIdleKafkaQueues();
    quietIdleKafkaQueues(); // once is enough; twice is harmless
    const idle = queue();
    idle.checkPendingRequests(); // what kafkajs runs after each answer
    expect(idle.throttleCheckTimeoutId ?? null).toBeNull();
  });

  it('a throttled queue with a request waiting still checks again later', () => {
    quietIdleKafkaQueues();
    const throttled = queue();
    throttled.throttledUntil = Date.now() + 60_000;
    throttled.pending.push({});
    throttled.checkPendingRequests();
    expect(throttled.throttleCheckTimeoutId).toBeTruthy();
    clearTimeout(throttled.throttleCheckTimeoutId!);
  });
});
