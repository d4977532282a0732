/** Creating topics waits for their leaders without kafkajs's waitForLeaders (a fake admin). */
import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createTopicsAndWait } from '../../src/infra/kafka/client';

const unknownTopic = Object.assign(new Error('This server does not host this topic-partition'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' });

type Offsets = Awaited<ReturnType<Admin['fetchTopicOffsets']>>;

function fakeAdmin(answers: Array<Offsets | Error>) {
  const created: Array<Parameters<Admin['createTopics']>[0]> = [];
  let asked = 0;
  const admin: Pick<Admin, 'createTopics' | 'fetchTopicOffsets'> = {
    createTopics: async (options) => {
      created.push(options);
      return true;
    },
    fetchTopicOffsets: async () => {
      const answer = answers[Math.min(asked++, answers.length - 1)]!;
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { admin, created, asked: () => asked };
}

const offsets = (partitions: number): Offsets => Array.from({ length: partitions }, (_, partition) => ({ partition, offset: '0', high: '0', low: '0' }));
const notLeader = Object.assign(new Error('This server is not the leader for that topic-partition'), { type: 'NOT_LEADER_FOR_PARTITION' });

describe('createTopicsAndWait', () => {
  it('waits while the broker does not know the new topic yet, and while its leader is not ready', async () => {
    const { admin, created, asked } = fakeAdmin([unknownTopic, unknownTopic, notLeader, offsets(2)]);
    await createTopicsAndWait(admin, [{ topic: 'a', numPartitions: 2 }]);
    expect(created).toEqual([{ topics: [{ topic: 'a', numPartitions: 2 }], waitForLeaders: false }]);
    expect(asked()).toBe(4);
  });

  it('says when the leaders do not come', async () => {
    const { admin } = fakeAdmin([unknownTopic]);
    await expect(createTopicsAndWait(admin, [{ topic: 'a', numPartitions: 1 }], 300)).rejects.toMatchObject({ code: 'TIMEOUT', message: expect.stringContaining('created a but its partitions did not answer') });
  });

  it("passes on the broker's refusal of the topic itself", async () => {
    const { admin } = fakeAdmin([]);
    const refusal = Object.assign(new Error('Replication factor: 3 larger than available brokers: 1.'), { type: 'INVALID_REPLICATION_FACTOR' });
    admin.createTopics = async () => {
      throw refusal;
    };
    await expect(createTopicsAndWait(admin, [{ topic: 'a', numPartitions: 1, replicationFactor: 3 }])).rejects.toBe(refusal);
  });
});
