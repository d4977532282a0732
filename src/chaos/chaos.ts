/**
 * Breaking the stack on purpose, so users watch the breakers open and close:
 * kill (SIGKILL / docker kill: the runtime brings it back), stop (stopped and kept stopped for
 * the duration, then started again), pause (SIGSTOP / docker pause: alive but silent, then
 * resumed). Whatever was broken is restored when the duration ends or on Ctrl-C.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MsctlError } from '../core/errors';
import type { ProgressSink } from '../core/events';
import type { Project } from '../stack/project';
import { runtimeForExisting } from '../runtime/select';
import { stackStatus } from '../runtime/status';

export type ChaosAction = 'kill' | 'stop' | 'pause';

export interface ChaosRequest {
  action: ChaosAction;
  target: string;
  forMs: number;
}

export interface ChaosReport {
  action: ChaosAction;
  target: string;
  runtime: 'local' | 'docker';
  brokenAt: string;
  restoredAt: string | null;
  /** How it came back: restored by msctl, or by the runtime's own restart. */
  restoredBy: 'msctl' | 'runtime';
  interrupted: boolean;
}

/** Waits `ms`, or less when the signal aborts; true when it was aborted. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(true);
    }, { once: true });
  });
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

const signalAll = (pids: number[], signal: NodeJS.Signals) => {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
};

export async function runChaos(project: Project, request: ChaosRequest, sink: ProgressSink, signal: AbortSignal): Promise<ChaosReport> {
  const runtime = runtimeForExisting(project);
  const status = await stackStatus(project);
  const target = status.targets.find((t) => t.name === request.target);
  if (!target) {
    throw new MsctlError('USAGE', `no ${request.target} in this stack`, `targets: ${status.targets.map((t) => t.name).join(', ')}`);
  }
  if (target.state === 'stopped' || target.pid === null) {
    throw new MsctlError('NOT_RUNNING', `${request.target} is not running`, `start it with \`msctl up\``);
  }
  const report: ChaosReport = { action: request.action, target: request.target, runtime, brokenAt: new Date().toISOString(), restoredAt: null, restoredBy: 'msctl', interrupted: false };
  const say = (text: string) => sink.emit({ type: 'message', level: 'info', text });
  const seconds = `${Math.round(request.forMs / 100) / 10} s`;

  if (runtime === 'docker') {
    const docker = await import('../runtime/docker/runtime');
    const { connectDocker } = await import('../runtime/docker/engine');
    const engine = await connectDocker();
    const container = engine.getContainer((await docker.listContainers(engine, project)).find((info) => docker.targetOf(info) === request.target)!.Id);
    if (request.action === 'kill') {
      await container.kill();
      say(`killed ${request.target} (docker kill); the watcher starts it again`);
      report.restoredBy = 'runtime';
      return report;
    }
    if (request.action === 'pause') {
      await container.pause();
      say(`paused ${request.target} (docker pause) for ${seconds}`);
      report.interrupted = await pause(request.forMs, signal);
      await container.unpause();
    } else {
      const hold = join(project.stateDir, 'docker-hold', request.target);
      await mkdir(join(project.stateDir, 'docker-hold'), { recursive: true });
      await writeFile(hold, `${process.pid}\n`);
      try {
        await container.stop({ t: 10 });
        say(`stopped ${request.target} (docker stop) for ${seconds}`);
        report.interrupted = await pause(request.forMs, signal);
        await container.start();
      } finally {
        await rm(hold, { force: true });
      }
    }
    report.restoredAt = new Date().toISOString();
    say(`${request.target} is back (${request.action === 'pause' ? 'unpaused' : 'started'})`);
    return report;
  }

  const local = await import('../runtime/local/runtime');
  if (request.action === 'kill') {
    signalAll([target.pid], 'SIGKILL');
    say(`killed ${request.target} (SIGKILL to pid ${target.pid})`);
    if (target.kind === 'service') {
      report.restoredBy = 'runtime';
      say('the supervisor restarts it with backoff');
      return report;
    }
    // The supervisor does not restart infrastructure on its own: msctl does, after the duration.
    report.interrupted = await pause(request.forMs, signal);
    await local.resumeLocal(project, request.target, sink);
  } else if (request.action === 'pause') {
    const pids = processTree(target.pid);
    signalAll(pids, 'SIGSTOP');
    say(`paused ${request.target} (SIGSTOP to ${pids.length} process${pids.length === 1 ? '' : 'es'}) for ${seconds}`);
    try {
      report.interrupted = await pause(request.forMs, signal);
    } finally {
      signalAll(processTree(target.pid), 'SIGCONT');
    }
  } else {
    await local.holdLocal(project, request.target, sink);
    say(`stopped ${request.target} for ${seconds}`);
    report.interrupted = await pause(request.forMs, signal);
    await local.resumeLocal(project, request.target, sink);
  }
  report.restoredAt = new Date().toISOString();
  say(`${request.target} is back`);
  return report;
}
