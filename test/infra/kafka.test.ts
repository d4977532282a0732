import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { uniqueName } from '../support/infra-env';

describe('the run\'s Kafka broker', () => {
  const kafka = new Kafka({ clientId: 'infra-test', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING });
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  it('creates and describes a topic with 3 partitions', async () => {
    const topic = uniqueName('infra-topic');
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true })).toBe(true);
    const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
    expect(topics).toHaveLength(1);
    expect(topics[0]?.name).toBe(topic);
    expect(topics[0]?.partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
    for (const p of topics[0]?.partitions ?? []) expect(p.leader).toBe(1);
    expect(await admin.listTopics()).toContain(topic);
  });

  it('returns a produced message to a consumer group', async () => {
    const topic = uniqueName('infra-roundtrip');
    const groupId = uniqueName('infra-group');
    await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });

    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'k1', value: 'hello kafka', headers: { h: 'v' } }] });
    expect(meta?.errorCode).toBe(0);
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const received = await new Promise<{ key: string; value: string; header: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message within 30 s')), 30_000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          clearTimeout(timer);
          resolve({ key: String(message.key), value: String(message.value), header: String(message.headers?.h) });
        },
      });
    });
    await consumer.disconnect();
    expect(received).toEqual({ key: 'k1', value: 'hello kafka', header: 'v' });

    const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
    expect(offsets[0]?.partitions[0]?.offset).toBe('1');
    await admin.deleteGroups([groupId]);
  });

  it('does not auto-create topics', async () => {
    const topic = uniqueName('missing');
    const producer = kafka.producer({ allowAutoTopicCreation: true, retry: { retries: 1 } });
    await producer.connect();
    try {
      // The broker answers the metadata request for the unknown topic with an error instead of creating it.
      await expect(producer.send({ topic, messages: [{ value: 'x' }] })).rejects.toThrow(
        expect.objectContaining({
          name: 'KafkaJSNumberOfRetriesExceeded',
          cause: expect.objectContaining({ name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION' }),
        }),
      );
    } finally {
      await producer.disconnect();
    }
    expect(await admin.listTopics()).not.toContain(topic);
  });
});
