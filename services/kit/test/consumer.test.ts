/**
 * The kit's consumer against the real broker: when kafkajs stops a consumer for good (an error
 * it does not retry escapes the batch), the kit says so in /health's check and starts a new
 * one, which gets the uncommitted batch again.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { createCloudEvent } from '../src/cloudevents';
import { startConsumer, type RunningConsumer } from '../src/consumer';
import { EventProducer, createKafka, ensureTopics } from '../src/kafka';
import { ServiceMetrics } from '../src/metrics';
import type { ConsumedRecord } from '../src/records';
import { capturingLogger, eventually, uniqueSuffix } from '../src/testing';

const suffix = uniqueSuffix();
const topic = `consumer-test-${suffix}`;
const { logger, lines: logLines } = capturingLogger();
const metrics = new ServiceMetrics('consumer-test');
const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
const kafka = createKafka({ brokers: [inject('kafkaBootstrap')], clientId: 'consumer-test', prefix: '' }, logger);
const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics });
let consumer: RunningConsumer | undefined;

beforeAll(async () => {
  await ensureTopics(kafka, [{ topic, partitions: 1 }]);
});

afterAll(async () => {
  await consumer?.stop();
  await producer.close();
  circuits.shutdown();
});

describe('startConsumer', () => {
  it('replaces a consumer that kafkajs stopped on an error it does not retry, says it is stopped meanwhile, and gets the batch again', async () => {
    const events = [1, 2, 3].map((n) => createCloudEvent({ type: 'consumer.test', source: '/test', subject: `s-${n}`, data: { n } }));
    await producer.sendEvents(topic, events);

    let calls = 0;
    const handled = new Set<string>();
    const statuses = new Set<string>();
    consumer = await startConsumer({
      kafka,
      groupId: `consumer-test-${suffix}`,
      topics: [topic],
      metrics,
      logger,
      // Without dead letters a handler may not return rejected records: that error escapes the
      // batch, as a bug in the kit's own code would, and kafkajs gives up on the consumer.
      handleBatch: async (records: ConsumedRecord[]) => {
        calls += 1;
        if (calls === 1) return { rejected: [{ record: records[0]!, reason: 'refused' }] };
        for (const record of records) if (record.event) handled.add(record.event.id);
      },
    });
    const running = consumer;
    const watch = setInterval(() => statuses.add(running.progress.report().status), 20);
    try {
      await eventually(async () => (handled.size === events.length ? true : undefined), 60_000, 'every event handled by the new consumer');
    } finally {
      clearInterval(watch);
    }
    expect([...handled].sort()).toEqual(events.map((event) => event.id).sort());
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(logLines.some((line) => line.level === 50 && /does not retry; starting a new one/.test(line.msg))).toBe(true);
    expect(statuses.has('fail')).toBe(true);
    await eventually(async () => (running.progress.report().status === 'pass' ? true : undefined), 30_000, 'the new consumer to report pass');
  });
});
