/**
 * The installed kafkajs carries scripts/patch-kafkajs.mjs's changes: a connection's request queue
 * with nothing pending arms no timer (kafkajs 2.2.4 alone re-arms one every millisecond, for
 * every open connection), and one with a request waiting out a throttle still checks again; the
 * encoder takes its buffers from Node's pool, unzeroed, and still hands out only what it wrote;
 * it writes varints in place, with the bytes Kafka's protocol gives them.
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
