import { afterEach, describe, expect, it, vi } from 'vitest';
import { idleReleaseStep, releaseMemoryWhenIdle } from '../src/memory';

describe('releasing memory once load is over', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once per busy spell, on the first quiet interval after it: never under load, never again while idle', () => {
    const decisions: boolean[] = [];
    let busy = false;
    // idle, load, load, quiet, quiet, quiet, light work (not a spell), quiet, load, quiet
    for (const utilization of [0.01, 0.6, 0.9, 0.02, 0.01, 0.0, 0.08, 0.01, 0.4, 0.02]) {
      const step = idleReleaseStep(busy, utilization);
      busy = step.busy;
      decisions.push(step.collect);
    }
    expect(decisions).toEqual([false, false, false, true, false, false, false, false, false, true]);
  });

  it('waits through a spell that is winding down (between busy and idle) before it collects', () => {
    expect(idleReleaseStep(true, 0.1)).toEqual({ busy: true, collect: false });
    expect(idleReleaseStep(true, 0.03)).toEqual({ busy: false, collect: true });
  });

  it('runs the collection on its interval once the loop was busy, and does nothing without a gc function', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const gc = vi.fn();
    const released: number[] = [];
    const readings = [0.7, 0.01, /* after the collection */ 0.2, 0.01, 0.01];
    const { stop } = releaseMemoryWhenIdle({ gc, intervalMs: 1_000, utilization: () => readings.shift() ?? 0, onRelease: ({ ms }) => released.push(ms) });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gc).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(released).toHaveLength(1);
    // The reading taken right after the collection (0.2, its own work) is dropped: no new spell.
    await vi.advanceTimersByTimeAsync(3_000);
    expect(gc).toHaveBeenCalledTimes(1);
    stop();
    expect(releaseMemoryWhenIdle({ gc: undefined }).stop).toBeTypeOf('function');
  });

  it('spell(): what the loop did not see as busy (a start-up, an operation that waited) counts as a spell', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const gc = vi.fn();
    const release = releaseMemoryWhenIdle({ gc, intervalMs: 1_000, utilization: () => 0.01 });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(gc).not.toHaveBeenCalled();
    release.spell();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(gc).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(gc).toHaveBeenCalledTimes(1);
    release.stop();
  });
});
