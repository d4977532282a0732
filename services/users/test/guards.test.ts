import { HttpError } from '@msctl/kit';
import { describe, expect, it } from 'vitest';
import { HashingGate } from '../src/guards';

/** Work that ends when the test says so, standing in for a password hash. */
function controlledWork() {
  const started: number[] = [];
  const finishers = new Map<number, () => void>();
  const work = (id: number) => () =>
    new Promise<number>((resolve) => {
      started.push(id);
      finishers.set(id, () => resolve(id));
    });
  const finish = (id: number) => finishers.get(id)!();
  return { started, work, finish };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('HashingGate', () => {
  it('runs up to its concurrency at once, queues up to its queue, and refuses one more at once with 429 and Retry-After', async () => {
    const gate = new HashingGate(2, 1);
    const { started, work, finish } = controlledWork();
    const running = [gate.run(work(1)), gate.run(work(2))];
    const queued = gate.run(work(3));
    await settle();
    expect(started).toEqual([1, 2]);

    const refused = await gate.run(work(4)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HttpError);
    expect(refused).toMatchObject({ statusCode: 429, code: 'rate_limited', retryAfterSeconds: 1 });
    expect(started).not.toContain(4);

    // A finished hash hands its slot to the one waiting, and only then is there room again.
    finish(1);
    await settle();
    expect(started).toEqual([1, 2, 3]);
    const fifth = gate.run(work(5));
    await expect(gate.run(work(6))).rejects.toMatchObject({ statusCode: 429 });
    finish(2);
    finish(3);
    await settle();
    finish(5);
    expect(await Promise.all([...running, queued, fifth])).toEqual([1, 2, 3, 5]);
  });

  it('frees the slot of work that fails, and a queue of 0 refuses as soon as every slot is busy', async () => {
    const gate = new HashingGate(1, 0);
    await expect(gate.run(() => Promise.reject(new Error('scrypt failed')))).rejects.toThrow('scrypt failed');
    const { work, finish } = controlledWork();
    const busy = gate.run(work(1));
    await expect(gate.run(work(2))).rejects.toMatchObject({ statusCode: 429, retryAfterSeconds: 1 });
    finish(1);
    expect(await busy).toBe(1);
    expect(await gate.run(async () => 'free again')).toBe('free again');
  });
});
