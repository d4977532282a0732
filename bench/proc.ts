/** What the benchmarks read of a process from /proc (Linux). */
import { execaSync } from 'execa';
import { readFileSync } from 'node:fs';

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
