/**
 * `msctl dev` for real on the local runtime, in a throwaway copy of this repository's services
 * (sources, kit and tsconfig included): a saved edit reaches the gateway, a type error leaves the
 * running version serving, and a kit edit restarts every service.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevEvent } from '../../src/dev/loop';
import { msctl, repoRoot, statusOf } from '../support/cli';
import { gatewayClient } from '../support/gateway-client';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let project: ThrowawayProject;
let dev: ResultPromise;
const events: DevEvent[] = [];
const waiters: Array<() => void> = [];

/** The next event (after the ones seen so far) that `match` accepts. */
async function next(match: (event: DevEvent) => boolean, timeoutMs = 120_000): Promise<DevEvent> {
  const from = events.length;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = events.slice(from).find(match);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such dev event within ${timeoutMs} ms; seen: ${JSON.stringify(events.slice(from))}`);
    await new Promise<void>((resolve) => {
      waiters.push(resolve);
      setTimeout(resolve, 500);
    });
  }
}

const usersSource = () => join(project.dir, 'services', 'users', 'src', 'service.ts');
const gateway = () => `http://127.0.0.1:${project.ports.gateway}`;
const client = gatewayClient(gateway);

async function conflictMessage(): Promise<string> {
  const body = { username: 'twice', email: 'twice@example.test', password: 'correct horse battery staple' };
  await client.post('/api/users', body);
  const answer = await client.post('/api/users', body);
  expect(answer.status).toBe(409);
  return ((await answer.json()) as { message: string }).message;
}

beforeAll(async () => {
  project = await createThrowawayProject(repoRoot, { sources: true });
  dev = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'dev', '--json', '--project-dir', project.dir], {
    env: { NO_COLOR: '1', MSCTL_RUNTIME: 'local', ...project.env },
    reject: false,
    stdin: 'ignore',
  });
  createInterface({ input: dev.stdout! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    events.push(JSON.parse(line) as DevEvent);
    for (const wake of waiters.splice(0)) wake();
  });
  await next((event) => event.type === 'watching', 240_000);
}, 300_000);

afterAll(async () => {
  if (dev) {
    dev.kill('SIGINT');
    await dev;
  }
  if (project) {
    await msctl(['down', '-v', '--project-dir', project.dir], { env: project.env });
    await project.remove();
  }
});

describe('msctl dev on the local runtime', () => {
  it('watches every service it started', () => {
    expect(events.find((event) => event.type === 'watching')).toEqual({ type: 'watching', services: ['analytics', 'data-processing', 'gateway', 'notifications', 'users'], typecheck: true });
  });

  it('a saved edit of a service: rebuilt, type-checked, restarted, and the gateway answers with the new code', async () => {
    expect(await conflictMessage()).toBe('this username is already taken');
    const source = await readFile(usersSource(), 'utf8');
    await writeFile(usersSource(), source.replace('is already taken`', 'is taken already (edited)`'));
    const reloaded = await next((event) => event.type === 'reloaded' && event.service === 'users');
    expect(reloaded).toMatchObject({ kinds: ['source'] });
    expect(await conflictMessage()).toBe('this username is taken already (edited)');
  });

  it('a type error is shown with file, line and code, and the running version keeps serving; the next good save recovers', async () => {
    const good = await readFile(usersSource(), 'utf8');
    await writeFile(usersSource(), `${good}\nexport const broken: number = 'not a number';\n`);
    const failed = await next((event) => event.type === 'failed' && event.service === 'users');
    expect(failed).toMatchObject({ step: 'typecheck' });
    expect((failed as { output: string }).output).toMatch(/service\.ts[:(]\d+[:,]\d+.*TS2322/s);
    expect(await conflictMessage()).toBe('this username is taken already (edited)');
    await writeFile(usersSource(), good.replace('taken already (edited)', 'taken already (fixed)'));
    await next((event) => event.type === 'reloaded' && event.service === 'users');
    expect(await conflictMessage()).toBe('this username is taken already (fixed)');
  });

  it('a syntax error is a build error with its code frame, and nothing restarts', async () => {
    const good = await readFile(usersSource(), 'utf8');
    await writeFile(usersSource(), `${good}\nexport const = ;\n`);
    const failed = await next((event) => event.type === 'failed' && event.service === 'users');
    expect(failed).toMatchObject({ step: 'build' });
    expect((failed as { output: string }).output).toMatch(/service\.ts:\d+:\d+/);
    await writeFile(usersSource(), good);
    await next((event) => event.type === 'reloaded' && event.service === 'users');
  });

  it('a route added to a service.json: the service restarts, and the gateway routes it without a restart', async () => {
    const gatewayPid = async () => (await statusOf(project.dir, project.env)).targets.find((target) => target.name === 'gateway')!.pid;
    const before = await gatewayPid();
    const people = () => client.post('/api/people', { username: 'twice', email: 'twice@example.test', password: 'correct horse battery staple' });
    expect((await people()).status).toBe(404);
    const file = join(project.dir, 'services', 'users', 'service.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { routes: Array<Record<string, unknown>> };
    manifest.routes.push({ prefix: '/api/people', upstreamPath: '/users', public: ['POST /api/people'] });
    await writeFile(file, JSON.stringify(manifest, null, 2));
    expect(await next((event) => event.type === 'reloaded' && event.service === 'users')).toMatchObject({ kinds: ['manifest'] });
    // users' own answer to a sign-up that exists: the gateway sent it there.
    expect((await people()).status).toBe(409);
    expect(await gatewayPid()).toBe(before);
  });

  it('a kit edit rebuilds and restarts all five', async () => {
    const config = join(project.dir, 'services', 'kit', 'src', 'config.ts');
    await writeFile(config, `${await readFile(config, 'utf8')}\n// a comment saved in the kit\n`);
    const reloaded = new Set<string>();
    while (reloaded.size < 5) {
      const event = await next((each) => each.type === 'reloaded' || each.type === 'failed');
      expect(event.type, JSON.stringify(event)).toBe('reloaded');
      reloaded.add((event as { service: string }).service);
    }
    expect([...reloaded].sort()).toEqual(['analytics', 'data-processing', 'gateway', 'notifications', 'users']);
    expect(await conflictMessage()).toBe('this username is taken already (fixed)');
  });
});
