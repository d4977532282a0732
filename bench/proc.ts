/** What the benchmarks read of a process from /proc (Linux). */
import { execaSync } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';

let clockTicks: number | undefined;

/**
 * The fields of /proc/<pid>/stat after the command name (which may hold spaces), so that state is
 * [0], the parent pid [1], utime [11], stime [12] and rss in pages [21]; undefined once it is gone.
 */
export function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds of a live process so far (all its threads), or null once it is gone. */
export function cpuSecondsOf(pid: number): number | null {
  clockTicks ??= Number(execaSync('getconf', ['CLK_TCK']).stdout.trim()) || 100;
  const fields = statFields(pid);
  return fields ? (Number(fields[11]) + Number(fields[12])) / clockTicks : null;
}

/**
 * What a thread of a Node process does, from its name: the JS thread, libuv's pool (crypto, fs,
 * zlib, dns), V8's helpers (GC, compilers), and --cpu-prof's own sampler.
 */
export type ThreadKind = 'main' | 'threadpool' | 'v8' | 'profiler' | 'other';
export const THREAD_KINDS: readonly ThreadKind[] = ['main', 'threadpool', 'v8', 'profiler', 'other'];

export function threadKind(pid: number, tid: number, comm: string): ThreadKind {
  if (tid === pid) return 'main';
  if (comm.startsWith('libuv-worker')) return 'threadpool';
  if (comm.startsWith('V8')) return 'v8';
  if (comm.startsWith('v8:Prof')) return 'profiler';
  return 'other';
}

/**
 * A process's CPU ticks split by thread kind: each live thread's utime + stime, and what the
 * process's total holds beyond them (threads that ended) counted as `other`.
 */
export function splitTicks(pid: number, processTicks: number, threads: Array<{ tid: number; comm: string; ticks: number }>): Record<ThreadKind, number> {
  const split: Record<ThreadKind, number> = { main: 0, threadpool: 0, v8: 0, profiler: 0, other: 0 };
  for (const thread of threads) split[threadKind(pid, thread.tid, thread.comm)] += thread.ticks;
  split.other += Math.max(0, processTicks - THREAD_KINDS.reduce((sum, kind) => sum + split[kind], 0));
  return split;
}

/** CPU seconds of a live process by thread kind (see splitTicks), or null once it is gone. */
export function cpuSecondsByThread(pid: number): Record<ThreadKind, number> | null {
  const total = cpuSecondsOf(pid);
  if (total === null) return null;
  const threads: Array<{ tid: number; comm: string; ticks: number }> = [];
  try {
    for (const entry of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        threads.push({ tid: Number(entry), comm, ticks: Number(fields[11]) + Number(fields[12]) });
      } catch {
        // the thread ended meanwhile: its time is in the process's total
      }
    }
  } catch {
    return null;
  }
  const split = splitTicks(pid, Math.round(total * clockTicks!), threads);
  return Object.fromEntries(THREAD_KINDS.map((kind) => [kind, split[kind] / clockTicks!])) as Record<ThreadKind, number>;
}
