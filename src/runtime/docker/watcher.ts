/**
 * The watcher: a small detached process per stack that starts again a container stopped behind
 * msctl's back (`docker kill`), which Docker's restart policies deliberately leave alone, and
 * runs msctl's trace receiver for the containers.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MsctlError } from '../../core/errors';
import { terminatePid } from '../../infra/ports';
import type { Project } from '../../stack/project';
import { isOurProcess } from '../processes';

const watcherPidFile = (project: Pick<Project, 'stateDir'>) => join(project.stateDir, 'docker-watcher.pid');

const WATCHER_SCRIPT = 'docker-watcher.js';

/** Where msctl's built entry points are: beside this module once bundled, unless told. */
const defaultScriptsDir = () => dirname(fileURLToPath(import.meta.url));

type WatcherProject = Pick<Project, 'root' | 'stateDir'>;

/**
 * The watcher's pid, when the pid file names a process that is this stack's watcher. After a
 * reboot the file outlives the watcher, and its pid may have gone to any other process.
 */
export async function readWatcherPid(project: WatcherProject): Promise<{ pid: number; ours: boolean } | undefined> {
  const pid = Number((await readFile(watcherPidFile(project), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, ours: isOurProcess(pid, `${WATCHER_SCRIPT} ${project.root}`) };
}

/** Starts the watcher that restarts containers stopped behind msctl's back (once per stack). */
export async function ensureWatcher(project: Project, scriptsDir = defaultScriptsDir()): Promise<void> {
  if ((await readWatcherPid(project))?.ours) return;
  const script = join(scriptsDir, WATCHER_SCRIPT);
  if (!existsSync(script)) throw new MsctlError('INTERNAL', `msctl is not built: ${script} is missing`, 'run `npm run build`');
  await mkdir(join(project.stateDir, 'logs'), { recursive: true });
  const out = openSync(join(project.stateDir, 'logs', 'docker-watcher.log'), 'a');
  const child = spawn(process.execPath, [script, project.root], { detached: true, stdio: ['ignore', out, out], env: process.env });
  closeSync(out);
  child.unref();
  await writeFile(watcherPidFile(project), `${child.pid}\n`);
}

/**
 * Stops this stack's watcher and removes its pid file. A pid file naming some other process
 * (stale: the machine restarted since) is removed without signalling anyone.
 */
export async function stopWatcher(project: WatcherProject): Promise<{ state: 'stopped' | 'stale' | 'none'; pid?: number }> {
  const watcher = await readWatcherPid(project);
  if (watcher?.ours) await terminatePid(watcher.pid, 'SIGTERM', 5_000);
  await rm(watcherPidFile(project), { force: true });
  if (!watcher) return { state: 'none' };
  return { state: watcher.ours ? 'stopped' : 'stale', pid: watcher.pid };
}
