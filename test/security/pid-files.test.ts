/**
 * A pid file outlives its process (a reboot, a kill -9) and the kernel hands its pid to someone
 * else: msctl signals a pid only once its command line shows the process is msctl's, through
 * /proc where there is one and `ps` where there is not. Real processes, real files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stopWatcher } from '../../src/runtime/docker/watcher';
import { commandLineOf, isOurProcess } from '../../src/runtime/processes';

const children: ChildProcess[] = [];
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-pid-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A live process that is not msctl's, as a recycled pid would be; `marker` ends its command line. */
async function stranger(marker?: string): Promise<ChildProcess> {
  const child = marker ? spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore' }) : spawn('sleep', ['300'], { stdio: 'ignore' });
  children.push(child);
  await once(child, 'spawn');
  return child;
}

describe('docker watcher pid file', () => {
  it('names an unrelated live process: down leaves it alone, says so and removes the file', async () => {
    const root = join(dir, 'project');
    const stateDir = join(root, '.msctl');
    await mkdir(stateDir, { recursive: true });
    const sleeper = await stranger();
    await writeFile(join(stateDir, 'docker-watcher.pid'), `${sleeper.pid}\n`);

    const result = await stopWatcher({ root, stateDir });

    expect(result).toEqual({ state: 'stale', pid: sleeper.pid });
    expect(existsSync(join(stateDir, 'docker-watcher.pid'))).toBe(false);
    // Still running and never signalled: no exit, no signal recorded.
    expect(sleeper.exitCode).toBeNull();
    expect(sleeper.signalCode).toBeNull();
    expect(() => process.kill(sleeper.pid!, 0)).not.toThrow();
  });

  it("stops the stack's own watcher (its command line names the watcher script and the project)", async () => {
    const root = join(dir, 'project');
    const stateDir = join(root, '.msctl');
    await mkdir(stateDir, { recursive: true });
    // Stands in for `node docker-watcher.js <root>`: the same command line, a process that waits.
    const script = join(dir, 'docker-watcher.js');
    await writeFile(script, 'setInterval(() => {}, 1000);\n');
    const watcher = spawn(process.execPath, [script, root], { stdio: 'ignore' });
    children.push(watcher);
    await once(watcher, 'spawn');
    await writeFile(join(stateDir, 'docker-watcher.pid'), `${watcher.pid}\n`);
    const exited = once(watcher, 'exit');

    expect(await stopWatcher({ root, stateDir })).toEqual({ state: 'stopped', pid: watcher.pid });
    expect(await exited).toEqual([null, 'SIGTERM']);
    expect(existsSync(join(stateDir, 'docker-watcher.pid'))).toBe(false);
  });

  it("another project's watcher is not this one's", async () => {
    const stateDir = join(dir, 'a', '.msctl');
    await mkdir(stateDir, { recursive: true });
    const script = join(dir, 'docker-watcher.js');
    await writeFile(script, 'setInterval(() => {}, 1000);\n');
    const other = spawn(process.execPath, [script, join(dir, 'b')], { stdio: 'ignore' });
    children.push(other);
    await once(other, 'spawn');
    await writeFile(join(stateDir, 'docker-watcher.pid'), `${other.pid}\n`);

    expect((await stopWatcher({ root: join(dir, 'a'), stateDir })).state).toBe('stale');
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
  });

  it('no pid file, or one without a pid: nothing to stop', async () => {
    const stateDir = join(dir, '.msctl');
    await mkdir(stateDir, { recursive: true });
    expect(await stopWatcher({ root: dir, stateDir })).toEqual({ state: 'none' });
    await writeFile(join(stateDir, 'docker-watcher.pid'), 'garbage\n');
    expect(await stopWatcher({ root: dir, stateDir })).toEqual({ state: 'none' });
    expect(existsSync(join(stateDir, 'docker-watcher.pid'))).toBe(false);
  });
});

describe('is this pid still ours', () => {
  it('reads /proc where it exists', async () => {
    const sleeper = await stranger('msctl-marker');
    expect(commandLineOf(sleeper.pid!)).toBe(`${process.execPath} -e setInterval(() => {}, 1000) msctl-marker`);
    expect(isOurProcess(sleeper.pid, 'msctl-marker')).toBe(true);
    expect(isOurProcess(sleeper.pid, 'supervisor.js')).toBe(false);
  });

  it('without /proc (macOS, BSD) asks ps instead of taking the pid on trust', async () => {
    const noProc = { procDir: join(dir, 'no-proc') };
    const sleeper = await stranger('msctl-marker');
    expect(commandLineOf(sleeper.pid!, noProc)).toBe(`${process.execPath} -e setInterval(() => {}, 1000) msctl-marker`);
    expect(isOurProcess(sleeper.pid, 'msctl-marker', noProc)).toBe(true);
    expect(isOurProcess(sleeper.pid, 'supervisor.js', noProc)).toBe(false);
  });

  it('without /proc and without a ps that answers, a pid is not taken as ours', async () => {
    const sleeper = await stranger('msctl-marker');
    const nothing = { procDir: join(dir, 'no-proc'), ps: join(dir, 'no-ps') };
    expect(commandLineOf(sleeper.pid!, nothing)).toBeUndefined();
    expect(isOurProcess(sleeper.pid, 'msctl-marker', nothing)).toBe(false);
  });

  it('a pid that is gone is not ours, with or without /proc', async () => {
    const sleeper = await stranger('msctl-marker');
    const exited = once(sleeper, 'exit');
    sleeper.kill('SIGKILL');
    await exited;
    expect(isOurProcess(sleeper.pid, 'msctl-marker')).toBe(false);
    expect(commandLineOf(sleeper.pid!, { procDir: join(dir, 'no-proc') })).toBeUndefined();
  });
});
