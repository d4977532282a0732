/**
 * The local supervisor's control socket, on the real built supervisor (dist/supervisor.js) in a
 * throwaway project: .msctl/ is closed (stateDirMode) and the socket is 0600, and the supervisor itself
 * refuses target names and counts that are not this stack's — with a 400 that changes nothing —
 * whatever client sends them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMsctlError } from '../../src/core/errors';
import { ProgressBus } from '../../src/core/events';
import { controlRequest, pingSupervisor } from '../../src/runtime/local/control';
import { restartLocal, upLocal } from '../../src/runtime/local/runtime';
import { socketPath, type StackState } from '../../src/runtime/local/state';
import { NODE_FLAGS } from '../../src/runtime/local/supervisor';
import { loadProject, stateDirMode, type Project } from '../../src/stack/project';
import { repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';
import { sleep } from '../../src/core/sleep';

let throwaway: ThrowawayProject;
let project: Project;
let supervisor: ChildProcess;
let output = '';
let socket: string;

beforeAll(async () => {
  throwaway = await createThrowawayProject(repoRoot);
  project = await loadProject(throwaway.dir, { ...process.env, ...throwaway.env });
  // As an older msctl or a umask of 022 left it.
  await mkdir(project.stateDir, { mode: 0o755 });
  await chmod(project.stateDir, 0o755);
  supervisor = spawn(process.execPath, [...NODE_FLAGS, join(repoRoot, 'dist', 'supervisor.js'), project.root], {
    cwd: project.root,
    env: { ...process.env, ...throwaway.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [supervisor.stdout!, supervisor.stderr!]) stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  socket = socketPath(project.stateDir);
  const deadline = Date.now() + 30_000;
  while (!(await pingSupervisor(socket))) {
    if (supervisor.exitCode !== null || Date.now() > deadline) throw new Error(`the supervisor did not start:\n${output}`);
    await sleep(100);
  }
});

afterAll(async () => {
  if (supervisor && supervisor.exitCode === null) {
    const exited = once(supervisor, 'exit');
    supervisor.kill('SIGTERM');
    await exited;
  }
  await throwaway?.remove();
});

const post = (path: string, body: unknown) => controlRequest<{ error?: string; operation?: string }>(socket, 'POST', path, body);

describe('the control socket', () => {
  it('lives in a closed .msctl/ and is 0600 itself', async () => {
    expect((await stat(project.stateDir)).mode & 0o777).toBe(stateDirMode());
    const info = await stat(socket);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
  });

  it('answers 400 to names and counts outside the stack, and changes nothing', async () => {
    const refusals: Array<[string, unknown]> = [
      ['/restart', { target: '../x' }],
      ['/restart', { target: 'users/../../etc' }],
      ['/hold', { target: '../../../tmp/owned' }],
      ['/resume', { target: 'users#0' }],
      ['/up', { plan: { requested: [], steps: [{ target: 'users', kind: 'service', action: 'scale', reason: '', level: 0, needs: [], instances: { start: ['../x'], stop: [] } }] } }],
      ['/up', { plan: { requested: [], steps: [{ target: 'users', kind: 'service', action: 'scale', reason: '', level: 0, needs: [], instances: { start: ['users#33'], stop: [] } }] } }],
      ['/up', { plan: { requested: [], steps: [{ target: 'users', kind: 'service', action: 'scale', reason: '', level: 0, needs: [], instances: { start: [], stop: ['analytics#2'] } }] } }],
      ['/up', { plan: { requested: [], steps: [] }, replicas: { users: -1 } }],
      ['/up', { plan: { requested: [], steps: [] }, replicas: { users: 1.5 } }],
      ['/up', { plan: { requested: [], steps: [{ target: '../x', kind: 'service', action: 'start', reason: '', level: 0, needs: [] }] } }],
      ['/up', { plan: { requested: [], steps: [] }, replicas: { users: 1e9 } }],
    ];
    for (const [path, body] of refusals) {
      const response = await post(path, body);
      expect(response.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(response.body.error).toMatch(/^invalid /);
      expect(response.body.operation).toBeUndefined();
    }
    const notJson = await new Promise<number>((resolve, reject) => {
      void import('node:http').then(({ request }) => {
        const req = request({ socketPath: socket, method: 'POST', path: '/restart', headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end('{"target": ');
      });
    });
    expect(notJson).toBe(400);

    const { body: state } = await controlRequest<StackState>(socket, 'GET', '/state');
    expect(state.targets).toEqual({});
    // No log file was opened for a refused name, inside .msctl/ or out of it.
    expect(await readdir(join(project.stateDir, 'logs'))).toEqual([]);
    expect(await readdir(project.stateDir)).not.toContain('x.log');
    expect(supervisor.exitCode).toBeNull();
  });

  it("msctl's own client reports the refusal as a usage error", async () => {
    const bus = new ProgressBus();
    for (const attempt of [() => restartLocal(project, '../x', 10, bus), () => upLocal(project, { requested: [], steps: [{ target: 'users', kind: 'service', action: 'scale', reason: '', level: 0, needs: [], instances: { start: ['../x'], stop: [] } }] }, { timeoutSeconds: 10 }, bus)]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(isMsctlError(error) && error.code).toBe('USAGE');
      expect((error as Error).message).toMatch(/refused/);
    }
  });

  it('still takes a valid request (and stops on /down)', async () => {
    const response = await post('/hold', { target: 'users' });
    expect(response.status).toBe(202);
    const exited = once(supervisor, 'exit');
    expect((await post('/down', {})).status).toBe(202);
    expect(await exited).toEqual([0, null]);
  });
});
