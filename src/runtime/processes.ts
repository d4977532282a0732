import { execFileSync, spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isProcessAlive } from '../infra/ports';

/** Where a process's command line is read from; tests point these at a machine without /proc. */
export interface CommandLineSources {
  /** The kernel's process table as files: Linux has it, macOS and the BSDs do not. */
  procDir?: string;
  /** What lists a process where there is no /proc. */
  ps?: string;
}

/**
 * The command line of `pid`, arguments joined by spaces; undefined when the process is gone
 * or its command line cannot be learnt (then nobody can vouch for it being ours).
 */
export function commandLineOf(pid: number, sources: CommandLineSources = {}): string | undefined {
  const procDir = sources.procDir ?? '/proc';
  // /proc/self exists wherever /proc is mounted: a missing pid there means the process is gone.
  if (existsSync(join(procDir, 'self'))) {
    try {
      return readFileSync(join(procDir, String(pid), 'cmdline'), 'utf8').replaceAll('\0', ' ').trim() || undefined;
    } catch {
      return undefined;
    }
  }
  try {
    const output = execFileSync(sources.ps ?? 'ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 });
    return output.trim() || undefined;
  } catch {
    return undefined; // ps exits 1 for an unknown pid
  }
}

/**
 * True when `pid` is alive and its command line contains `marker`: after a reboot or a
 * crash, a pid in a stale state or pid file may belong to a stranger, who must not be signalled.
 */
export function isOurProcess(pid: number | undefined, marker?: string, sources?: CommandLineSources): boolean {
  if (!pid || pid <= 0 || !isProcessAlive(pid)) return false;
  if (!marker) return true;
  return commandLineOf(pid, sources)?.includes(marker) ?? false;
}

/** A process and, for PostgreSQL, its backends: every process whose parent is in the set. */
export function processTree(root: number): number[] {
  const tree = [root];
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return tree;
  }
  const parents = new Map<number, number>();
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, parent] of parents) if (parent === tree[i] && !tree.includes(pid)) tree.push(pid);
  }
  return tree;
}

/** Sends `signal` to each pid that is still there. */
export function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Runs a program on msctl's own stdin, stdout and stderr (`msctl exec`, `msctl psql`) and resolves
 * to its exit code; one killed by a signal ends as a shell reports it, 128 + the signal's number.
 * While it runs msctl steps aside as a shell does: Ctrl-C reaches the program from the terminal
 * (psql cancels its query and goes on), so msctl's own interrupt handling is held back until it
 * exits, and a SIGTERM sent to msctl is passed on. `notFound` is thrown when there is no such program.
 */
export function runAttached(program: string, args: readonly string[], options: { cwd?: string; env: Record<string, string | undefined>; notFound: () => Error }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env, stdio: 'inherit' });
    const held = (['SIGINT', 'SIGTERM'] as const).map((signal) => ({ signal, listeners: process.listeners(signal) }));
    const passOn = (signal: NodeJS.Signals) => {
      if (signal === 'SIGTERM') child.kill(signal);
    };
    for (const { signal } of held) {
      process.removeAllListeners(signal);
      process.on(signal, passOn);
    }
    let restored = false;
    const restore = () => {
      if (restored) return;
      restored = true;
      for (const { signal, listeners } of held) {
        process.off(signal, passOn);
        for (const listener of listeners) process.on(signal, listener);
      }
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      restore();
      reject(error.code === 'ENOENT' ? options.notFound() : error);
    });
    child.once('exit', (code, signal) => {
      restore();
      resolve(code ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0));
    });
  });
}
