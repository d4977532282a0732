/**
 * The kit's consumer against the real broker: when kafkajs stops a consumer for good (an error
 * it does not retry escapes the batch), the kit says so in /health's check and starts a new
 * one, which gets the uncommitted batch again. Its offsets are committed on an interval, not
 * per batch, and all of them by the time it has stopped.
 */
import type { Kafka } from 'kafkajs';
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
const steadyTopic = `consumer-commits-test-${suffix}`;
const { logger, lines: logLines } = capturingLogger();
const metrics = new ServiceMetrics('consumer-test');
const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
const kafka = createKafka({ brokers: [inject('kafkaBootstrap')], clientId: 'consumer-test', prefix: '' }, logger);
const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics });
let consumer: RunningConsumer | undefined;

beforeAll(async () => {
  await ensureTopics(kafka, [
    { topic, partitions: 1 },
    { topic: steadyTopic, partitions: 1 },
  ]);
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

  it('under a steady trickle commits once a second rather than per batch; once idle, and once stopped, everything handled is committed', async () => {
    const group = `consumer-commits-test-${suffix}`;
    let batches = 0;
    let commits = 0;
    const handled: string[] = [];
    // The kit's own consumer, with each of its offset commits counted as kafkajs reports them.
    const counting: Pick<Kafka, 'consumer'> = {
      consumer: (config) => {
        const created = kafka.consumer(config);
        created.on(created.events.COMMIT_OFFSETS, () => (commits += 1));
        return created;
      },
    };
    const admin = kafka.admin();
    await admin.connect();
    const committed = async () => Number((await admin.fetchOffsets({ groupId: group, topics: [steadyTopic] }))[0]!.partitions[0]!.offset);
    const steady = await startConsumer({
      kafka: counting,
      groupId: group,
      topics: [steadyTopic],
      metrics,
      logger,
      // A fetch returns as soon as a record is there: a batch per event, as under a light load.
      fetch: { minBytes: 1, maxWaitMs: 20 },
      handleBatch: async (records: ConsumedRecord[]) => {
        batches += 1;
        for (const record of records) if (record.event) handled.push(record.event.id);
      },
    });
    try {
      await steady.joined;
      const first = [];
      for (let n = 0; n < 60; n++) {
        first.push(createCloudEvent({ type: 'consumer.test', source: '/test', subject: `steady-${n}`, data: { n } }));
        await producer.sendEvents(steadyTopic, [first.at(-1)!]);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await eventually(async () => (handled.length === first.length ? true : undefined), 30_000, 'every event of the trickle handled');
      expect(batches).toBeGreaterThanOrEqual(20);
      expect(commits).toBeLessThanOrEqual(batches / 4);
      // Idle: the interval commits what the last batches reached, without another record.
      await eventually(async () => ((await committed()) === first.length ? true : undefined), 10_000, 'the last offset committed while idle');

      // Stopping right after a batch: what it handled is committed before the group is left.
      const last = createCloudEvent({ type: 'consumer.test', source: '/test', subject: 'steady-last', data: {} });
      await producer.sendEvents(steadyTopic, [last]);
      await eventually(async () => (handled.includes(last.id) ? true : undefined), 30_000, 'the last event handled');
    } finally {
      await steady.stop();
    }
    try {
      expect(await committed()).toBe(61);
    } finally {
      await admin.disconnect();
    }
  });
});
