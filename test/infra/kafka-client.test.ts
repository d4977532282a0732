/**
 * msctl's own Kafka client (src/infra/kafka/client.ts) on the run's real broker: lookups that
 * callers run side by side (the lag of several groups at once, as `bench` and the dashboard do).
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { connectTopicsKafka, watchKafkaOffsets } from '../../src/infra/kafka/client';
import { uniqueName } from '../support/infra-env';

const bootstrap = inject('kafkaBootstrap');

describe('connectTopicsKafka', () => {
  it('describes topics side by side, some it has not seen yet: each with its partitions and offsets', async () => {
    const admin = new Kafka({ clientId: 'kafka-client-test', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const known = Array.from({ length: 8 }, (_, i) => uniqueName(`known-${i}`));
    const unseen = Array.from({ length: 40 }, (_, i) => uniqueName(`unseen-${i}`));
    const all = [...known, ...unseen];
    const client = await connectTopicsKafka([bootstrap]);
    try {
      // The wait for the partitions is below (see the next test on kafkajs's waitForLeaders).
      await admin.createTopics({ topics: all.map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })), waitForLeaders: false });
      // Each partition answers for its offsets before the client looks.
      for (const topic of all) await eventually(async () => ((await admin.fetchTopicOffsets(topic)).length === 2 ? true : undefined), 10_000, `${topic}'s offsets`);
      await client.describeTopics(known);
      for (const topic of unseen) {
        // A topic the client has not seen (its metadata lookup replaces what the client knew)
        // while the known ones are asked for their offsets.
        const described = await Promise.all([client.describeTopics([topic]), ...known.map((name) => client.describeTopics([name])), client.listTopics()]);
        expect(described[0]).toEqual([expect.objectContaining({ name: topic, partitions: [expect.objectContaining({ partition: 0, low: 0, high: 0 }), expect.objectContaining({ partition: 1, low: 0, high: 0 })] })]);
        for (const [i, name] of known.entries()) expect((described[i + 1] as Array<{ name: string; partitions: unknown[] }>).map((t) => [t.name, t.partitions.length])).toEqual([[name, 2]]);
      }
    } finally {
      await client.close();
      await admin.deleteTopics({ topics: all }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('describes several topics with one metadata request for their offsets, not one per topic', async () => {
    const admin = new Kafka({ clientId: 'kafka-client-test', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topics = Array.from({ length: 6 }, (_, i) => uniqueName(`counted-${i}`));
    const requests: string[] = [];
    const client = await connectTopicsKafka([bootstrap], 'kafka-client-test-count', { onRequest: (name) => requests.push(name) });
    try {
      await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })), waitForLeaders: false });
      for (const topic of topics) await eventually(async () => ((await admin.fetchTopicOffsets(topic)).length === 2 ? true : undefined), 10_000, `${topic}'s offsets`);
      // The first call learns the topics; the second is what every read of the dashboard does.
      await client.describeTopics(topics);
      requests.length = 0;
      const described = await client.describeTopics(topics);
      expect(described.map((t) => [t.name, t.partitions.length]).sort()).toEqual(topics.map((t) => [t, 2]).sort());
      const metadata = requests.filter((name) => name === 'Metadata').length;
      // The topics' metadata (kafkajs asks twice for it), then one for the six offset lookups.
      expect(metadata, requests.join(', ')).toBeLessThanOrEqual(3);
      expect(requests.filter((name) => name === 'ListOffsets')).toHaveLength(2 * topics.length);
    } finally {
      await client.close();
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it("the dashboard's offsets reader: a topic's offsets and a group's, and a read after the topic was deleted", async () => {
    const admin = new Kafka({ clientId: 'kafka-client-test', brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const topic = uniqueName('watched');
    const groupId = uniqueName('watcher');
    const reader = watchKafkaOffsets(bootstrap, { clientId: 'kafka-client-test-watch' });
    try {
      // Not kafkajs's waitForLeaders: it asks for the topic's metadata at once, and a broker that
      // has not published the new topic yet answers UNKNOWN_TOPIC_OR_PARTITION, which kafkajs
      // does not retry there. The wait is for what this test needs: the partition's offsets.
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: false });
      await eventually(async () => ((await admin.fetchTopicOffsets(topic)).length === 1 ? true : undefined), 10_000, `${topic}'s offsets`);
      const client = await connectTopicsKafka([bootstrap]);
      await client.produce(topic, ['1', '2', '3'].map((value) => ({ key: 'a', value, partition: 0 })));
      await client.close();
      await admin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: '2' }] });

      const reading = await reader.read();
      expect(reading.topics.find((t) => t.topic === topic)?.partitions).toEqual([{ partition: 0, low: 0, high: 3 }]);
      expect(reading.groups.find((g) => g.groupId === groupId)?.offsets).toEqual([{ topic, partition: 0, offset: 2 }]);

      await admin.deleteTopics({ topics: [topic] });
      await eventually(async () => (!(await admin.listTopics()).includes(topic) ? true : undefined), 10_000, `${topic} deleted`);
      // Within the listing window: the reader asked for a topic that is gone, and lists again.
      const after = await reader.read();
      expect(after.topics.map((t) => t.topic)).not.toContain(topic);
    } finally {
      await reader.close();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });
});
