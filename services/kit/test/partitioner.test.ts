import { randomBytes } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { KeyHashPartitioner, murmur2 } from '../src/partitioner';

const partitions = (count: number): PartitionMetadata[] =>
  Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], partitionErrorCode: 0, offlineReplicas: [] }));

describe('murmur2', () => {
  it("gives the Java client's values (Kafka's own test vectors)", () => {
    expect(murmur2('21')).toBe(-973932308);
    expect(murmur2('foobar')).toBe(-790332482);
    expect(murmur2('a-little-bit-long-string')).toBe(-985981536);
    expect(murmur2('a-little-bit-longer-string')).toBe(-1486304829);
    expect(murmur2('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')).toBe(-58897971);
    expect(murmur2(Buffer.from([0x61, 0x62, 0x63]))).toBe(479470107);
  });
});

describe('KeyHashPartitioner', () => {
  it("puts every keyed record where kafkajs's DefaultPartitioner does", () => {
    const ours = KeyHashPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys: Array<string | Buffer> = ['', 'a', 'ab', 'abc', 'user-0', 'ünïcødé ✓ 🚀', 'f47ac10b-58cc-4372-a567-0e02b2c3d479'];
    for (let i = 0; i < 500; i++) keys.push(i % 2 === 0 ? randomBytes(i % 70) : randomBytes(i % 70).toString('base64'));
    for (const key of keys) {
      for (const count of [1, 2, 3, 6, 12, 13]) {
        const args = { topic: 't', partitionMetadata: partitions(count), message: { key, value: 'v' } };
        expect(ours(args), `${JSON.stringify(key)} over ${count} partitions`).toBe(theirs(args));
      }
    }
  });

  it('keeps a partition that is set, and spreads records without a key over every partition', () => {
    const ours = KeyHashPartitioner();
    expect(ours({ topic: 't', partitionMetadata: partitions(6), message: { key: 'k', value: 'v', partition: 4 } })).toBe(4);
    const seen = new Set<number>();
    for (let i = 0; i < 60; i++) seen.add(ours({ topic: 't', partitionMetadata: partitions(6), message: { value: 'v' } }));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4, 5]);
  });
});
