import { describe, expect, it } from 'vitest';
import { splitTicks, threadKind } from '../../bench/proc';

describe('the CPU of a Node process by kind of thread', () => {
  it('names the JS thread by its tid, libuv\'s pool and V8\'s helpers and the profiler by their names', () => {
    expect(threadKind(100, 100, 'MainThread')).toBe('main');
    expect(threadKind(100, 100, 'node')).toBe('main');
    expect(threadKind(100, 104, 'libuv-worker')).toBe('threadpool');
    expect(threadKind(100, 101, 'V8Worker')).toBe('v8');
    expect(threadKind(100, 105, 'v8:ProfEvntProc')).toBe('profiler');
    expect(threadKind(100, 102, 'DelayedTaskSche')).toBe('other');
  });

  it('counts what ended threads used (in the process total, not in any live thread) as other', () => {
    const split = splitTicks(100, 1_000, [
      { tid: 100, comm: 'MainThread', ticks: 600 },
      { tid: 101, comm: 'V8Worker', ticks: 100 },
      { tid: 102, comm: 'V8Worker', ticks: 40 },
      { tid: 103, comm: 'libuv-worker', ticks: 200 },
      { tid: 104, comm: 'SignalInspector', ticks: 0 },
      { tid: 105, comm: 'v8:ProfEvntProc', ticks: 30 },
    ]);
    expect(split).toEqual({ main: 600, threadpool: 200, v8: 140, profiler: 30, other: 30 });
  });
});
