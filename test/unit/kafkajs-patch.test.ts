/**
 * The installed kafkajs carries scripts/patch-kafkajs.mjs's changes: a connection's request queue
 * with nothing pending arms no timer (kafkajs 2.2.4 alone re-arms one every millisecond, for
 * every open connection), and one with a request waiting out a throttle still checks again; the
 * encoder takes its buffers from Node's pool, unzeroed, and still hands out only what it wrote;
 * it writes varints in place, with the bytes Kafka's protocol gives them; a produce request's
 * record batches carry every record as written, under the length and CRC-32C the protocol wants;
 * messages are grouped by partition in their order; a fetched batch's records decode with their
 * own offsets, timestamps and headers.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';

type Queue = { pending: unknown[]; throttledUntil: number; throttleCheckTimeoutId: NodeJS.Timeout | null | undefined; checkPendingRequests(): void };
const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
type Encoder = {
  buf: Buffer;
  buffer: Buffer;
  writeInt32(n: number): Encoder;
  writeVarIntBytes(b: Buffer): Encoder;
  writeString(s: string): Encoder;
  writeVarInt(n: number): Encoder;
  writeUVarInt(n: number): Encoder;
  writeVarLong(n: number | bigint): Encoder;
};
const KafkaEncoder = require('kafkajs/src/protocol/encoder.js') as new (initialSize?: number) => Encoder;
const logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const queue = () => new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 1000, clientId: 'test', broker: 'localhost:9092', logger });

describe('the kafkajs idle-timer fix', () => {
  it('an answered request with nothing pending leaves no timer behind', () => {
    const idle = queue();
    idle.checkPendingRequests(); // what kafkajs runs after each answer
    expect(idle.throttleCheckTimeoutId ?? null).toBeNull();
  });

  it('a throttled queue with a request waiting still checks again later', () => {
    const throttled = queue();
    throttled.throttledUntil = Date.now() + 60_000;
    throttled.pending.push({});
    throttled.checkPendingRequests();
    expect(throttled.throttleCheckTimeoutId).toBeTruthy();
    clearTimeout(throttled.throttleCheckTimeoutId!);
  });

  it('the patch script finds it applied and changes nothing', () => {
    expect(execFileSync(process.execPath, ['scripts/patch-kafkajs.mjs'], { encoding: 'utf8' })).toBe('');
  });
});

describe('the kafkajs encoder', () => {
  it('takes its buffer from the pool and hands out exactly the bytes it wrote, also once it has grown', () => {
    const small = new KafkaEncoder();
    expect(small.buf.buffer.byteLength).toBe(Buffer.poolSize);
    const payload = Buffer.from('x'.repeat(700));
    const encoder = new KafkaEncoder().writeInt32(7).writeString('ab').writeVarIntBytes(payload);
    // 4 bytes, a 2-byte length and 2 bytes, a varint length (700 → 2 bytes) and 700 bytes
    const expected = Buffer.concat([Buffer.from([0, 0, 0, 7, 0, 2]), Buffer.from('ab'), Buffer.from([0xf8, 0x0a]), payload]);
    expect(encoder.buffer.equals(expected)).toBe(true);
  });
});

/** Kafka's unsigned varint (LEB128): seven bits a byte, low bits first, the high bit set on all but the last. */
function leb128(value: bigint): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  return [...bytes, Number(rest)];
}
const zigZag32 = (n: number) => BigInt(((n << 1) ^ (n >> 31)) >>> 0);
const zigZag64 = (n: bigint) => BigInt.asUintN(64, (n << 1n) ^ (n >> 63n));

describe("the kafkajs encoder's varints", () => {
  const ints = [0, 1, -1, 63, -64, 64, 127, 128, 300, -300, 16_383, 16_384, 2 ** 21, 2 ** 28, 2 ** 31 - 1, -(2 ** 31)];
  const longs = [0n, 1n, -1n, 1_700_000_000_000n, -1_700_000_000_000n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n];

  it('writes each int, signed and unsigned, and each long as the protocol encodes it', () => {
    for (const n of ints) {
      expect([...new KafkaEncoder().writeVarInt(n).buffer], `varint ${n}`).toEqual(leb128(zigZag32(n)));
      const unsigned = n >>> 0;
      expect([...new KafkaEncoder().writeUVarInt(unsigned).buffer], `uvarint ${unsigned}`).toEqual(leb128(BigInt(unsigned)));
    }
    for (const n of longs) expect([...new KafkaEncoder().writeVarLong(n.toString() as never).buffer], `varlong ${n}`).toEqual(leb128(zigZag64(n)));
  });

  it('grows its buffer when a varint lands at its very end', () => {
    for (let filled = 505; filled <= 512; filled++) {
      const encoder = new KafkaEncoder().writeVarIntBytes(Buffer.alloc(filled - 2, 1)).writeVarInt(-(2 ** 31)).writeVarLong('-9223372036854775808' as never);
      const prefix = leb128(zigZag32(filled - 2));
      expect([...encoder.buffer.subarray(prefix.length + filled - 2)]).toEqual([...leb128(zigZag32(-(2 ** 31))), ...leb128(zigZag64(-(2n ** 63n)))]);
    }
  });

  it('makes no Buffer per varint', () => {
    const from = vi.spyOn(Buffer, 'from');
    try {
      new KafkaEncoder().writeVarInt(300).writeUVarInt(5).writeVarLong(1_700_000_000_000);
      expect(from).not.toHaveBeenCalled();
    } finally {
      from.mockRestore();
    }
  });
});

/** CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), a bit at a time: the reference. */
function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

type Decoder = { offset: number; buffer: Buffer; readInt16(): number; readInt32(): number; readString(): string | null; forward(n: number): void };
const KafkaDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => Decoder;
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (buffer: Buffer) => number;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: Decoder) => Promise<{
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  lastOffsetDelta: number;
  inTransaction: boolean;
  records: Array<{ key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[]>; offset: string; timestamp: string }>;
}>;
type Message = { key?: Buffer | string | null; value: Buffer | string | null; timestamp?: string; headers?: Record<string, string | Buffer | string[]> };
const produceRequest = require('kafkajs/src/protocol/requests/produce/v3/request.js') as (options: object) => { encode(): Promise<{ buffer: Buffer }> };
const Long = require('kafkajs/src/utils/long.js') as { fromInt(n: number): unknown };
const groupMessagesPerPartition = require('kafkajs/src/producer/groupMessagesPerPartition.js') as (options: {
  topic: string;
  partitionMetadata: Array<{ partitionId: number }>;
  messages: Message[];
  partitioner: (args: { message: Message }) => number;
}) => Record<string, Message[]>;

describe("kafkajs's CRC-32C", () => {
  it('is CRC-32C, on the standard check value and on buffers of every length around its 16-byte slices', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32C(Buffer.alloc(0))).toBe(0);
    for (let length = 1; length <= 70; length++) {
      const bytes = Buffer.from(Array.from({ length }, (_, i) => (i * 131 + length * 7) & 0xff));
      expect(crc32C(bytes), `${length} bytes`).toBe(crc32cReference(bytes));
    }
    const large = Buffer.from(Array.from({ length: 40_003 }, (_, i) => (i * 2_654_435_761) >>> 24));
    expect(crc32C(large)).toBe(crc32cReference(large));
  });
});

describe("kafkajs's produce request", () => {
  const partitionMessages: Message[][] = [
    [
      { key: 'user-1', value: JSON.stringify({ specversion: '1.0', id: 'a', data: { n: 1 } }), headers: { 'content-type': 'application/cloudevents+json', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' } },
      { key: null, value: Buffer.from('x'.repeat(700)), timestamp: '1700000000123' },
      { key: Buffer.from([0, 1, 2]), value: null, headers: { repeated: ['one', 'two'], binary: Buffer.from([255, 0]) } },
      { value: 'ünïcödé ✓', timestamp: '1700000000100', headers: {} },
    ],
    Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(i * 11), headers: { i: String(i) } })),
    [],
  ];

  const asBuffer = (value: Buffer | string | null | undefined) => (value === null || value === undefined ? null : Buffer.from(value));

  it('carries every record as written, in a batch whose length and CRC-32C are the protocol\'s', async () => {
    const now = Date.now();
    const request = produceRequest({
      acks: -1,
      timeout: 30_000,
      transactionalId: 'tx-1',
      producerId: Long.fromInt(42),
      producerEpoch: 3,
      topicData: [{ topic: 'events.raw', partitions: partitionMessages.map((messages, partition) => ({ partition, firstSequence: partition * 10, messages })) }],
    });
    const decoder = new KafkaDecoder((await request.encode()).buffer);
    expect(decoder.readString()).toBe('tx-1');
    expect(decoder.readInt16()).toBe(-1);
    expect(decoder.readInt32()).toBe(30_000);
    expect(decoder.readInt32()).toBe(1);
    expect(decoder.readString()).toBe('events.raw');
    expect(decoder.readInt32()).toBe(partitionMessages.length);
    for (const [partition, messages] of partitionMessages.entries()) {
      expect(decoder.readInt32()).toBe(partition);
      const size = decoder.readInt32();
      const batch = decoder.buffer.subarray(decoder.offset, decoder.offset + size);
      // FirstOffset (8 bytes), Length (4): the bytes after it; Magic 2; the CRC covers Attributes to the end.
      expect(batch.readBigInt64BE(0)).toBe(0n);
      expect(batch.readInt32BE(8)).toBe(size - 12);
      expect(batch.readInt8(16)).toBe(2);
      expect(batch.readUInt32BE(17)).toBe(crc32cReference(batch.subarray(21)));
      const decoded = await decodeRecordBatch(decoder);
      expect(decoded).toMatchObject({ producerId: '42', producerEpoch: 3, firstSequence: partition * 10, inTransaction: true, lastOffsetDelta: messages.length - 1 });
      const stamps = messages.map((message) => Number(message.timestamp ?? Number.NaN)).filter((stamp) => !Number.isNaN(stamp));
      expect(decoded.records.map((record) => record.offset)).toEqual(messages.map((_, i) => String(i)));
      for (const [i, message] of messages.entries()) {
        const record = decoded.records[i]!;
        expect(record.key, `partition ${partition}, record ${i}: key`).toEqual(asBuffer(message.key));
        expect(record.value, `partition ${partition}, record ${i}: value`).toEqual(asBuffer(message.value));
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([name, value]) => [name, Array.isArray(value) ? value.map((one) => Buffer.from(one)) : Buffer.from(value)]),
        );
        expect(record.headers, `partition ${partition}, record ${i}: headers`).toEqual(headers);
        if (message.timestamp) expect(record.timestamp).toBe(message.timestamp);
        else expect(Number(record.timestamp)).toBeGreaterThanOrEqual(stamps.length > 0 ? Math.min(...stamps) : now);
      }
    }
    expect(decoder.offset).toBe(decoder.buffer.length);
  });
});

describe("kafkajs's grouping of a send's messages by partition", () => {
  it('keeps every message, under its partition, in the order sent', () => {
    const messages: Message[] = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: String(i) }));
    const partitionOf = (message: Message) => (Number(message.value) * 7) % 3;
    const groups = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [0, 1, 2].map((partitionId) => ({ partitionId })),
      messages,
      partitioner: ({ message }) => partitionOf(message),
    });
    expect(Object.keys(groups).sort()).toEqual(['0', '1', '2']);
    for (const partition of [0, 1, 2]) expect(groups[partition]).toEqual(messages.filter((message) => partitionOf(message) === partition));
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: () => 0 })).toEqual({});
  });
});

describe("kafkajs's decoding of a fetched batch", () => {
  /** One encoded batch of `messages`, as a broker would hand it out at `firstOffset`. */
  async function fetchedBatch(messages: Message[], firstOffset: bigint): Promise<Buffer> {
    const decoder = new KafkaDecoder((await produceRequest({ acks: -1, timeout: 1_000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages }] }] }).encode()).buffer);
    decoder.readString();
    decoder.readInt16();
    decoder.readInt32();
    decoder.readInt32();
    decoder.readString();
    decoder.readInt32();
    decoder.readInt32();
    const size = decoder.readInt32();
    const batch = Buffer.from(decoder.buffer.subarray(decoder.offset, decoder.offset + size));
    batch.writeBigInt64BE(firstOffset, 0); // the broker's offset: outside the CRC
    return batch;
  }

  it("gives each record its own batch's offsets and timestamps, batch after batch", async () => {
    const first = await fetchedBatch([{ value: 'a', timestamp: '1700000000000' }, { value: 'b', timestamp: '1700000000250' }], 1_000n);
    const second = await fetchedBatch([{ value: 'c', timestamp: '1800000000000' }, { value: 'd', timestamp: '1800000000007' }, { value: 'e', timestamp: '1800000000009' }], 5_000_000_000n);
    for (let pass = 0; pass < 2; pass++) {
      const a = await decodeRecordBatch(new KafkaDecoder(first));
      const b = await decodeRecordBatch(new KafkaDecoder(second));
      expect(a.records.map((record) => [record.offset, record.timestamp])).toEqual([
        ['1000', '1700000000000'],
        ['1001', '1700000000250'],
      ]);
      expect(b.records.map((record) => [record.offset, record.timestamp])).toEqual([
        ['5000000000', '1800000000000'],
        ['5000000001', '1800000000007'],
        ['5000000002', '1800000000009'],
      ]);
    }
  });

  it("keeps each header, a repeated one's values in order, and names like Object's own as plain keys", async () => {
    const batch = await fetchedBatch(
      [
        { value: 'x', headers: { traceparent: 'tp', repeated: ['1', '2', '3'], constructor: 'c', ['__proto__']: 'p', toString: 't' } as never },
        { value: 'y', headers: { only: 'one' } },
        { value: 'z' },
      ],
      0n,
    );
    const [x, y, z] = (await decodeRecordBatch(new KafkaDecoder(batch))).records;
    expect(Object.getPrototypeOf(x!.headers)).toBe(Object.prototype);
    expect(Object.keys(x!.headers).sort()).toEqual(['__proto__', 'constructor', 'repeated', 'toString', 'traceparent']);
    expect(x!.headers.traceparent).toEqual(Buffer.from('tp'));
    expect(x!.headers.repeated).toEqual([Buffer.from('1'), Buffer.from('2'), Buffer.from('3')]);
    expect(x!.headers.constructor).toEqual(Buffer.from('c'));
    expect(x!.headers.toString).toEqual(Buffer.from('t'));
    expect(Object.getOwnPropertyDescriptor(x!.headers, '__proto__')?.value).toEqual(Buffer.from('p'));
    expect(y!.headers).toEqual({ only: Buffer.from('one') });
    expect(z!.headers).toEqual({});
  });
});
