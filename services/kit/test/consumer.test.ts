/**
 * The kit's consumer against the real broker: a handler error that kafkajs does not retry
 * (here a TypeError, as a bug would throw) makes kafkajs stop its consumer for good. The kit
 * must start a new one, which gets the uncommitted batch again, and say so in the log.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { createCloudEvent } from '../src/cloudevents';
import { EventProducer, createKafka, ensureTopics, startConsumer, type RunningConsumer } from '../src/kafka';
import { ServiceMetrics } from '../src/metrics';
import { eventually, uniqueSuffix } from '../src/testing';

const suffix = uniqueSuffix();
const topic = `consumer-test-${suffix}`;
const logLines: Array<{ level: number; msg: string }> = [];
const logger = pino(
  { level: 'warn' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  }),
);
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
  it('replaces a consumer that kafkajs stopped on an error it does not retry, and gets the batch again', async () => {
    const events = [1, 2, 3].map((n) => createCloudEvent({ type: 'consumer.test', source: '/test', subject: `s-${n}`, data: { n } }));
    await producer.sendEvents(topic, events);

    let calls = 0;
    const handled = new Set<string>();
    consumer = await startConsumer({
      kafka,
      groupId: `consumer-test-${suffix}`,
      topics: [topic],
      metrics,
      logger,
      handleBatch: async (records) => {
        calls += 1;
        if (calls === 1) throw new TypeError('a bug in the handler');
        for (const record of records) if (record.event) handled.add(record.event.id);
      },
    });

    await eventually(async () => (handled.size === events.length ? true : undefined), 30_000, 'every event handled by the new consumer');
    expect([...handled].sort()).toEqual(events.map((event) => event.id).sort());
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(logLines.some((line) => line.level === 50 && /does not retry; starting a new one/.test(line.msg))).toBe(true);
  });
});
