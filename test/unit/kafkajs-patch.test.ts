/**
 * The installed kafkajs carries scripts/patch-kafkajs.mjs's changes: a connection's request queue
 * with nothing pending arms no timer (kafkajs 2.2.4 alone re-arms one every millisecond, for
 * every open connection), and one with a request waiting out a throttle still checks again; the
 * encoder takes its buffers from Node's pool, unzeroed, and still hands out only what it wrote.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

type Queue = { pending: unknown[]; throttledUntil: number; throttleCheckTimeoutId: NodeJS.Timeout | null | undefined; checkPendingRequests(): void };
const require = createRequire(import.meta.url);
const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
type Encoder = { buf: Buffer; buffer: Buffer; writeInt32(n: number): Encoder; writeVarIntBytes(b: Buffer): Encoder; writeString(s: string): Encoder };
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
