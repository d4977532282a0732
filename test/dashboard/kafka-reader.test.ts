/** The dashboard's Kafka reader on a fake broker: offsets every read, names only now and then. */
import { describe, expect, it } from 'vitest';
import { watchKafkaOffsets, type OffsetsKafka } from '../../src/infra/kafka/client';

/** A broker whose topics, groups and offsets the test sets, counting what it is asked. */
function fakeKafka() {
  const state = {
    topics: new Map<string, number>([['orders', 0]]),
    groups: new Map<string, number>([['billing', 0]]),
  };
  const calls = { listTopics: 0, listGroups: 0, describeTopics: 0, describeGroups: 0, committedOffsets: 0 };
  const kafka: OffsetsKafka = {
    listTopics: async () => {
      calls.listTopics += 1;
      return ['__consumer_offsets', ...state.topics.keys()];
    },
    listGroups: async () => {
      calls.listGroups += 1;
      return [...state.groups.keys()].map((groupId) => ({ groupId, protocolType: 'consumer' }));
    },
    describeTopics: async (names) => {
      calls.describeTopics += 1;
      return names.map((name) => {
        const high = state.topics.get(name);
        // As kafkajs does for a topic deleted since it was listed.
        if (high === undefined) throw new Error('This server does not host this topic-partition');
        return { name, partitions: [{ partition: 0, leader: 1, replicas: [1], isr: [1], low: 0, high }] };
      });
    },
    describeGroups: async (groupIds) => {
      calls.describeGroups += 1;
      return groupIds.map((groupId) => ({ groupId, state: state.groups.has(groupId) ? 'Stable' : 'Dead', protocolType: 'consumer', protocol: 'RoundRobin', members: [] }));
    },
    committedOffsets: async (groupId) => {
      calls.committedOffsets += 1;
      return [{ topic: 'orders', partitions: [{ partition: 0, offset: state.groups.get(groupId) ?? -1 }] }];
    },
    close: async () => undefined,
  };
  return { kafka, state, calls };
}

describe('watchKafkaOffsets', () => {
  it('reads offsets and group states every time, and lists topics and groups once per listEveryMs', async () => {
    const { kafka, state, calls } = fakeKafka();
    let clock = 0;
    const reader = watchKafkaOffsets('fake:9092', { connect: async () => kafka, listEveryMs: 10_000, now: () => clock });

    const first = await reader.read();
    expect(first.topics).toEqual([{ topic: 'orders', partitions: [{ partition: 0, low: 0, high: 0 }] }]);
    expect(first.groups).toEqual([{ groupId: 'billing', state: 'Stable', offsets: [{ topic: 'orders', partition: 0, offset: 0 }] }]);

    state.topics.set('orders', 7);
    state.groups.set('billing', 5);
    state.topics.set('payments', 0);
    clock = 9_999;
    const second = await reader.read();
    // The offsets moved and are shown; the topic created since waits for the next listing.
    expect(second.topics).toEqual([{ topic: 'orders', partitions: [{ partition: 0, low: 0, high: 7 }] }]);
    expect(second.groups[0]?.offsets).toEqual([{ topic: 'orders', partition: 0, offset: 5 }]);
    expect(calls).toMatchObject({ listTopics: 1, listGroups: 1, describeTopics: 2, describeGroups: 2, committedOffsets: 2 });

    clock = 10_000;
    const third = await reader.read();
    expect(third.topics.map((t) => t.topic)).toEqual(['orders', 'payments']);
    expect(calls).toMatchObject({ listTopics: 2, listGroups: 2 });
    await reader.close();
  });

  it('lists again at once when a topic listed earlier is gone, instead of failing the read', async () => {
    const { kafka, state, calls } = fakeKafka();
    state.topics.set('payments', 3);
    let clock = 0;
    const reader = watchKafkaOffsets('fake:9092', { connect: async () => kafka, listEveryMs: 10_000, now: () => clock });
    expect((await reader.read()).topics.map((t) => t.topic)).toEqual(['orders', 'payments']);

    state.topics.delete('payments');
    clock = 1_000;
    const after = await reader.read();
    expect(after.topics.map((t) => t.topic)).toEqual(['orders']);
    expect(calls.listTopics).toBe(2);
    // Listed at 1 s: the next read within the window lists nothing.
    clock = 10_999;
    await reader.read();
    expect(calls.listTopics).toBe(2);
    await reader.close();
  });

  it('fails a read when the broker does, and lists afresh on the next one', async () => {
    const { kafka, calls } = fakeKafka();
    let down = false;
    const reader = watchKafkaOffsets('fake:9092', {
      connect: async () => ({ ...kafka, describeTopics: async (names) => (down ? Promise.reject(new Error('connection refused')) : kafka.describeTopics(names)) }),
      now: () => 0,
    });
    await reader.read();
    down = true;
    await expect(reader.read()).rejects.toThrow('connection refused');
    down = false;
    expect((await reader.read()).topics.map((t) => t.topic)).toEqual(['orders']);
    expect(calls.listTopics).toBe(3);
    await reader.close();
  });
});
