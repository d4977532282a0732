/**
 * What a user meets when things go wrong on the local runtime, through the built binary:
 * a port already taken, a service that never gets healthy, Ctrl-C on an attached `up`,
 * and `down -v`.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { findFreePort, isPortFree, isProcessAlive } from '../../src/infra/ports';
import type { ProgressEvent } from '../../src/core/events';
import { streamEvents } from '../../src/runtime/local/control';
import { socketPath } from '../../src/runtime/local/state';
import type { StackStatus } from '../../src/runtime/types';
import { msctl, repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let project: ThrowawayProject;
const run = (args: string[]) => msctl([...args, '--project-dir', project.dir], { env: project.env });
const status = async () => JSON.parse(String((await run(['status', '--json'])).stdout)) as StackStatus;

/** A service that starts, logs a line, and answers /health with 503 and a failing check forever. */
const BROKEN_SERVICE = `
import { createServer } from 'node:http';
console.log('broken: the widget cannot be found');
createServer((request, response) => {
  response.writeHead(503, { 'content-type': 'application/health+json' });
  response.end(JSON.stringify({ status: 'fail', checks: { 'postgres:connection': [{ status: 'fail' }] }, circuits: [] }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

/**
 * The first `restart finished` on a stream of the supervisor's events (with logs) opened before
 * `work` runs, within 30 s; undefined when none comes.
 */
async function streamDuring(socket: string, options: { after?: number; onSeq?: (seq: number) => void }, work: () => Promise<unknown>): Promise<ProgressEvent | undefined> {
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => (connected = resolve));
  const done = streamEvents(socket, (event) => event.type === 'done' && event.text === 'restart finished', { ...options, logs: true, signal: AbortSignal.timeout(30_000), onConnected: connected });
  await ready;
  await work();
  return done;
}

beforeAll(async () => {
  project = await createThrowawayProject(repoRoot);
  const brokenDir = join(project.dir, 'services', 'broken');
  await mkdir(join(brokenDir, 'dist'), { recursive: true });
  await writeFile(join(brokenDir, 'service.json'), JSON.stringify({ name: 'broken', port: await findFreePort(), needs: ['postgres'] }));
  await writeFile(join(brokenDir, 'dist', 'main.js'), BROKEN_SERVICE);
});

afterAll(async () => {
  if (project) {
    await run(['down', '-v']);
    await project.remove();
  }
});

describe('local runtime failures', () => {
  it('names a port that is already taken, and what to do', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(project.ports.users, '127.0.0.1', resolve));
    try {
      const result = await run(['up', '-d', 'users']);
      expect(result.exitCode).toBe(1);
      expect(String(result.stderr)).toContain(`port ${project.ports.users} for users is taken by another process`);
      expect(String(result.stderr)).toMatch(/hint: .*service\.json/s);
      expect(String(result.stderr)).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
  });

  it('says which service never got healthy, what it waits on, and its last log lines', async () => {
    const result = await run(['up', '-d', 'broken', '--timeout', '3']);
    expect(result.exitCode).toBe(1);
    const stderr = String(result.stderr);
    expect(stderr).toContain('broken did not become healthy within 3 s; failing checks: postgres:connection');
    expect(stderr).toContain('broken: the widget cannot be found');
    expect(stderr).toContain('msctl logs broken');
    expect((await status()).targets.find((t) => t.name === 'broken')?.state).toBe('failed');
    expect((await run(['down'])).exitCode).toBe(0);
  });

  it('an attached up follows the logs and stops everything on Ctrl-C, exiting 130', async () => {
    const child = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'up', 'users', '--project-dir', project.dir], {
      env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
    });
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'healthy' line within 120 s:\n${output}`)), 120_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/healthy on the local runtime: kafka, postgres, users/.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const running = await status();
    const pids = running.targets.filter((t) => t.pid !== null).map((t) => t.pid!);
    expect(pids).toHaveLength(3);
    await eventually(async () => (/users\s+\| .*listening/.test(output) ? true : undefined), 10_000, "users' own log lines in the followed output");
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    for (const pid of [...pids, running.supervisor.pid!]) expect(isProcessAlive(pid), `pid ${pid}`).toBe(false);
    expect(await isPortFree(project.ports.users!)).toBe(true);
    expect((await status()).supervisor.state).toBe('none');
  });

  it("a second event stream starts where the first ended: what the supervisor said between the two is not lost", async () => {
    expect((await run(['up', '-d', 'users'])).exitCode).toBe(0);
    const socket = socketPath(join(project.dir, '.msctl'));
    // The first stream sees a restart through, as `up` sees its own operation, and ends.
    let last: number | undefined;
    const firstDone = await streamDuring(socket, { onSeq: (seq) => (last = seq) }, () => run(['restart', 'users']));
    expect(firstDone).toMatchObject({ type: 'done', text: 'restart finished' });
    expect(last).toBeDefined();
    // Said while no stream is open (as between `up` and the attached logs): another restart.
    expect((await run(['restart', 'users'])).exitCode).toBe(0);
    const secondDone = await streamDuring(socket, { after: last! }, async () => undefined);
    expect(secondDone).toMatchObject({ type: 'done', text: 'restart finished' });
    expect(secondDone?.type === 'done' && secondDone.operation).not.toBe(firstDone?.type === 'done' && firstDone.operation);
    expect((await run(['down'])).exitCode).toBe(0);
  });

  it('down -v deletes the data, plain down keeps it', async () => {
    expect(existsSync(join(project.dir, '.msctl', 'data', 'postgres'))).toBe(true);
    const result = await run(['down', '-v']);
    expect(result.exitCode).toBe(0);
    expect(String(result.stdout)).toMatch(/data deleted/);
    expect(existsSync(join(project.dir, '.msctl', 'data'))).toBe(false);
    expect(existsSync(join(project.dir, '.msctl', 'secrets.json'))).toBe(true);
  });
});
