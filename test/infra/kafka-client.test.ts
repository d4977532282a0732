/**
 * msctl's own Kafka client (src/infra/kafka/client.ts) on the run's real broker: lookups that
 * callers run side by side (the lag of several groups at once, as `bench` and the dashboard do).
 */
import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { connectTopicsKafka } from '../../src/infra/kafka/client';
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
      await admin.createTopics({ topics: all.map((topic) => ({ topic, numPartitions: 2, replicationFactor: 1 })), waitForLeaders: true });
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
});
