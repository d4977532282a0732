import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleep } from '../../src/core/sleep';

describe('sleep', () => {
  it('resolves false when the time runs out, and leaves no listener behind', async () => {
    const controller = new AbortController();
    expect(await sleep(5, controller.signal)).toBe(false);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(await sleep(1)).toBe(false);
  });

  it('resolves true early when the signal aborts, or at once when it already has', async () => {
    const controller = new AbortController();
    const started = Date.now();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    expect(await waiting).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await sleep(60_000, controller.signal)).toBe(true);
  });
});
