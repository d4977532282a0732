/**
 * The installed kafkajs carries scripts/patch-kafkajs.mjs's fix: a connection's request queue
 * with nothing pending arms no timer (kafkajs 2.2.4 alone re-arms one every millisecond, for
 * every open connection), and one with a request waiting out a throttle still checks again.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

type Queue = { pending: unknown[]; throttledUntil: number; throttleCheckTimeoutId: NodeJS.Timeout | null | undefined; checkPendingRequests(): void };
const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
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
