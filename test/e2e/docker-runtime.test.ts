/**
 * The docker runtime end to end, through the built binary and a real dockerd: images built
 * from this machine's toolchain (no registry here), Compose labels the docker CLI sees, the
 * advertised-listeners trap (kcat on the host reads what a container produced), a container
 * killed from outside comes back and is counted, `msctl dev` reloads a saved edit without
 * building an image and without a failed request, `down` and `down -v` leave nothing.
 */
import { execa } from 'execa';
import { cp, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import type { ProgressEvent } from '../../src/core/events';
import type { StackStatus } from '../../src/runtime/types';
import { msctl, repoRoot } from '../support/cli';
import { ensureDockerDaemon, removeDockerStack, type DaemonHandle } from '../support/docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';
import { sleep } from '../../src/core/sleep';

let daemon: DaemonHandle;
let project: ThrowawayProject;
let name: string;
const run = (args: string[]) => msctl([...args, '--project-dir', project.dir], { env: { ...project.env, MSCTL_RUNTIME: 'docker' }, timeout: 600_000 });
const status = async () => JSON.parse(String((await run(['status', '--json'])).stdout)) as StackStatus;
const docker = async (args: string[]) => String((await execa('docker', args)).stdout).trim();
const events = (stdout: unknown) => String(stdout).split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ProgressEvent);

beforeAll(async () => {
  daemon = await ensureDockerDaemon();
  // With sources: msctl dev rebuilds users in a test below.
  project = await createThrowawayProject(repoRoot, { sources: true });
  name = project.dir.split('/').at(-1)!.toLowerCase();
}, 120_000);

afterAll(async () => {
  if (project) await removeDockerStack(project, () => run(['down', '-v']));
  await daemon?.stop();
}, 120_000);

describe('msctl on the docker runtime', () => {
  it('up -d builds every image it needs and gets the stack healthy', async () => {
    const result = await run(['up', '-d', '--json']);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const built = events(result.stdout).filter((event) => event.type === 'target' && event.phase === 'built').map((event) => (event as { target: string }).target);
    expect(built.sort()).toEqual(['analytics', 'data-processing', 'gateway', 'notifications', 'users']);
    const current = await status();
    expect(current.runtime).toBe('docker');
    expect(current.healthy).toBe(true);
    for (const target of current.targets) expect(target.state, target.name).toBe('healthy');
    expect(current.targets.find((t) => t.name === 'users')?.checks['postgres:connection']).toBe('pass');
  });

  it('gives each service its own PostgreSQL role, which reads no other service\'s schema', async () => {
    const databaseUrl = async (service: string) => {
      const env = JSON.parse(await docker(['inspect', '--format', '{{json .Config.Env}}', `${name}-${service}-1`])) as string[];
      const url = new URL(env.find((entry) => entry.startsWith('DATABASE_URL='))!.slice('DATABASE_URL='.length));
      // From the host: the port PostgreSQL publishes on 127.0.0.1.
      url.host = `127.0.0.1:${project.env.MSCTL_POSTGRES_PORT}`;
      return url;
    };
    for (const service of ['users', 'notifications', 'analytics']) {
      const url = await databaseUrl(service);
      expect(url.username, service).toBe(service);
      const client = new pg.Client({ connectionString: url.href });
      await client.connect();
      try {
        expect((await client.query('SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user')).rows[0], service).toEqual({
          rolsuper: false,
          rolcreatedb: false,
          rolcreaterole: false,
        });
        if (service === 'notifications') await expect(client.query('SELECT * FROM users.users')).rejects.toThrow(/permission denied for schema users/);
      } finally {
        await client.end();
      }
    }
  });

  it('labels the containers as Compose does, on one network, ports on 127.0.0.1, as a non-root user', async () => {
    const names = (await docker(['ps', '--filter', `label=com.docker.compose.project=${name}`, '--format', '{{.Names}}'])).split('\n').sort();
    expect(names).toEqual(['analytics', 'data-processing', 'gateway', 'kafka', 'notifications', 'postgres', 'users'].map((target) => `${name}-${target}-1`));
    const inspect = JSON.parse(await docker(['inspect', `${name}-users-1`]))[0] as {
      Config: { Labels: Record<string, string>; User: string };
      HostConfig: { PortBindings: Record<string, Array<{ HostIp: string }>> };
      NetworkSettings: { Networks: Record<string, unknown> };
    };
    expect(inspect.Config.Labels['com.docker.compose.service']).toBe('users');
    expect(inspect.Config.Labels['com.docker.compose.config-hash']).toMatch(/^[0-9a-f]{64}$/);
    expect(Object.keys(inspect.NetworkSettings.Networks)).toEqual([`${name}_default`]);
    expect(Object.values(inspect.HostConfig.PortBindings).flat().every((binding) => binding.HostIp === '127.0.0.1')).toBe(true);
    expect(await docker(['exec', `${name}-users-1`, 'sh', '-c', 'cat /proc/1/status | grep ^Uid'])).toMatch(/Uid:\s+1000\s/);
    expect(await docker(['exec', `${name}-kafka-1`, 'sh', '-c', 'cat /proc/1/status | grep ^Uid'])).toMatch(/Uid:\s+1000\s/);
  });

  it('serves the gateway flow, and kcat on the host reads what users published inside the network', async () => {
    const gateway = `http://127.0.0.1:${project.ports.gateway}`;
    const post = (path: string, body: unknown, token?: string) =>
      fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const signUp = await post('/api/users', { username: 'linus', email: 'linus@example.test', password: 'a long enough password' });
    expect(signUp.status).toBe(201);
    const { id } = (await signUp.json()) as { id: string };
    const { accessToken } = (await (await post('/api/auth/token', { username: 'linus', password: 'a long enough password' })).json()) as { accessToken: string };
    expect((await post('/api/events', { events: [{ type: 'docker.e2e', data: {} }] }, accessToken)).status).toBe(202);
    const found = await eventually(async () => {
      const { stdout } = await execa('kcat', ['-b', `127.0.0.1:${project.env.MSCTL_KAFKA_PORT}`, '-C', '-t', 'users.events', '-o', 'beginning', '-e', '-q', '-J'], { timeout: 20_000 });
      return stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { key: string; payload: string }).find((m) => m.key === id);
    }, 30_000, 'user.created in users.events');
    expect(JSON.parse(found.payload)).toMatchObject({ type: 'user.created', subject: id });
    await eventually(async () => {
      const summary = (await (await fetch(`${gateway}/api/analytics/summary`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as { byType: Record<string, number> };
      return summary.byType['docker.e2e'] === 1 ? true : undefined;
    }, 30_000, 'analytics to count the event');
    // The containers send their spans to msctl's receiver (run by the watcher): one trace for the sign-up.
    const trace = await eventually(async () => {
      const listed = (JSON.parse(String((await run(['traces', '--json'])).stdout || '{"traces":[]}')) as { traces: Array<{ rootOperation: string; rootService: string; services: string[]; errors: number }> }).traces;
      return listed.find((t) => t.rootOperation === 'POST /api/users' && ['gateway', 'users', 'notifications', 'analytics'].every((s) => t.services.includes(s)));
    }, 30_000, 'the sign-up trace from the containers');
    // The request entered at the gateway's container and no span across the four failed.
    expect(trace).toMatchObject({ rootService: 'gateway', errors: 0 });
    // The receiver listens on the stack network's gateway alone (not 0.0.0.0), and only the
    // stack's own services, which hold its token, may write there.
    const { otlp } = JSON.parse(await readFile(join(project.dir, '.msctl', 'docker.json'), 'utf8')) as { otlp: { host: string; port: number } };
    expect((await docker(['network', 'inspect', '-f', '{{range .IPAM.Config}}{{.Gateway}} {{end}}', `${name}_default`])).split(' ')).toContain(otlp.host);
    const listening = String((await execa('ss', ['-ltnH', `sport = :${otlp.port}`])).stdout).trim().split('\n');
    expect(listening.map((line) => line.trim().split(/\s+/)[3])).toEqual([`${otlp.host}:${otlp.port}`]);
    const anonymous = await fetch(`http://${otlp.host}:${otlp.port}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(anonymous.status).toBe(401);
  });

  it('brings back a container killed with docker kill, and counts the restart', async () => {
    const id = await docker(['inspect', '-f', '{{.Id}}', `${name}-notifications-1`]);
    await docker(['kill', `${name}-notifications-1`]);
    await eventually(async () => {
      const target = (await status()).targets.find((t) => t.name === 'notifications')!;
      return target.state === 'healthy' && target.restarts === 1 ? target : undefined;
    }, 60_000, 'notifications to come back');
    // Started again, not re-created; the restart is counted for notifications alone.
    expect(await docker(['inspect', '-f', '{{.Id}}', `${name}-notifications-1`])).toBe(id);
    expect(Object.fromEntries((await status()).targets.map((t) => [t.name, t.restarts]))).toEqual({
      kafka: 0,
      postgres: 0,
      users: 0,
      'data-processing': 0,
      notifications: 1,
      analytics: 0,
      gateway: 0,
    });
  });

  it('scale users=2 runs a second container the gateway sends requests to', async () => {
    const result = await run(['scale', 'users=2']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const targets = (await status()).targets;
    expect(targets.filter((t) => t.name.startsWith('users')).map((t) => [t.name, t.state])).toEqual([
      ['users', 'healthy'],
      ['users#2', 'healthy'],
    ]);
    const requestLines = async (container: string) =>
      (await execa('docker', ['logs', container])).stdout.split('\n').filter((line) => line.includes('"url":"/users"') && line.includes('"method":"POST"')).length;
    const before = [await requestLines(`${name}-users-1`), await requestLines(`${name}-users-2`)];
    for (let i = 0; i < 6; i++) {
      const response = await fetch(`http://127.0.0.1:${project.ports.gateway}/api/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: `scaled_${i}`, email: `scaled_${i}@example.test`, password: 'a long enough password' }),
      });
      expect(response.status).toBe(201);
    }
    // A service writes its log lines in chunks, at most 100 ms after the line: ask until both have.
    const after = await eventually(async () => {
      const counts = [await requestLines(`${name}-users-1`), await requestLines(`${name}-users-2`)];
      return counts[0]! > before[0]! && counts[1]! > before[1]! ? counts : undefined;
    }, 10_000, 'both instances to log a sign-up').catch(async () => [await requestLines(`${name}-users-1`), await requestLines(`${name}-users-2`)]);
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
    expect((await run(['scale', 'users=1'])).exitCode).toBe(0);
    expect(await docker(['ps', '-a', '--filter', `name=${name}-users-2`, '-q'])).toBe('');
  });

  it('chaos pause freezes a container for the duration, then it serves again', async () => {
    const paused = execa(process.execPath, [`${repoRoot}/bin/msctl.js`, 'chaos', 'pause', 'analytics', '--for', '8s', '--project-dir', project.dir], {
      env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'docker' },
      reject: false,
    });
    // msctl says so once the container is paused; polling `docker inspect` for a pause of a few
    // seconds could miss it on a busy machine, where each docker call takes a second or more.
    let said = '';
    for (const stream of [paused.stdout!, paused.stderr!]) stream.on('data', (chunk: Buffer) => (said += chunk.toString()));
    await eventually(async () => (/paused analytics/.test(said) ? true : undefined), 60_000, 'msctl to say it paused analytics');
    expect(await docker(['inspect', '-f', '{{.State.Paused}}', `${name}-analytics-1`])).toBe('true');
    expect((await paused).exitCode).toBe(0);
    expect(await docker(['inspect', '-f', '{{.State.Paused}}', `${name}-analytics-1`])).toBe('false');
    await eventually(async () => ((await fetch(`http://127.0.0.1:${project.ports.analytics}/health`, { signal: AbortSignal.timeout(2_000) })).ok ? true : undefined), 30_000, 'analytics to answer again');
  });

  it('dev reloads a saved edit into a new container, without building an image and without a failed request', async () => {
    const imagesOf = async () => (await docker(['images', '-q', '--filter', 'label=dev.msctl.service=users'])).split('\n').filter(Boolean).sort();
    const imagesBefore = await imagesOf();
    const dev = execa(process.execPath, [`${repoRoot}/bin/msctl.js`, 'dev', 'users', '--json', '--project-dir', project.dir], {
      env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'docker' },
      reject: false,
      stdin: 'ignore',
    });
    const source = join(project.dir, 'services', 'users', 'src', 'service.ts');
    const original = await readFile(source, 'utf8');
    let out = '';
    dev.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const devEvents = () => out.split('\n').filter((line) => line.startsWith('{"type":')).map((line) => JSON.parse(line) as { type: string; service?: string; step?: string; output?: string });
    try {
      await eventually(async () => (devEvents().some((event) => event.type === 'watching') ? true : undefined), 300_000, 'msctl dev to watch');
      const gateway = `http://127.0.0.1:${project.ports.gateway}`;
      const signUp = (username: string) =>
        fetch(`${gateway}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, email: `${username}@example.test`, password: 'a long enough password' }) });
      expect((await signUp('dev_twice')).status).toBe(201);
      const login = await fetch(`${gateway}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'dev_twice', password: 'a long enough password' }) });
      const { accessToken } = (await login.json()) as { accessToken: string };
      // Requests all along the reload, under the per-client limit: every one is answered, by the old code or the new.
      let load = true;
      const answers: number[] = [];
      const requests = (async () => {
        while (load) {
          answers.push((await fetch(`${gateway}/api/users/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status);
          await sleep(20);
        }
      })();
      const reloads = () => devEvents().filter((event) => (event.type === 'reloaded' || event.type === 'failed') && event.service === 'users').length;
      await writeFile(source, original.replace('is already taken`', 'is taken, says the new container`'));
      await eventually(async () => (reloads() === 1 ? true : undefined), 300_000, 'users to reload');
      load = false;
      await requests;
      expect(devEvents().filter((event) => event.type === 'failed')).toEqual([]);
      expect(((await (await signUp('dev_twice')).json()) as { message: string }).message).toBe('this username is taken, says the new container');
      expect(answers.length).toBeGreaterThan(0);
      expect(answers.filter((code) => code !== 200)).toEqual([]);
      expect(await imagesOf()).toEqual(imagesBefore);
      expect(await docker(['ps', '-a', '--filter', `name=${name}-users-1`, '--format', '{{.Names}}'])).toBe(`${name}-users-1`);
    } finally {
      dev.kill('SIGINT');
      await dev;
    }
    // Back to the code and the bundle the image was built from (a bundle built here names this
    // folder's paths in its comments): the tests below expect up to reuse the images.
    await writeFile(source, original);
    const bundle = join(project.dir, 'services', 'users', 'dist', 'main.js');
    await cp(join(repoRoot, 'services', 'users', 'dist'), join(project.dir, 'services', 'users', 'dist'), { recursive: true });
    const now = new Date(Date.now() + 1_000);
    await utimes(bundle, now, now);
  });

  it('logs come through the Engine API like the local runtime', async () => {
    const result = await run(['logs', 'users', '--tail', '3']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const lines = String(result.stdout).trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines.every((line) => line.startsWith('users | '))).toBe(true);
  });

  it('down leaves no container and no network; a second up reuses the images', async () => {
    expect((await run(['down'])).exitCode).toBe(0);
    expect(await docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${name}`, '-q'])).toBe('');
    expect(await docker(['network', 'ls', '--filter', `label=com.docker.compose.project=${name}`, '-q'])).toBe('');
    expect(await docker(['volume', 'ls', '--filter', `label=com.docker.compose.project=${name}`, '-q'])).not.toBe('');

    const again = await run(['up', '-d', '--json']);
    expect(again.exitCode, String(again.stderr)).toBe(0);
    expect(events(again.stdout).filter((event) => event.type === 'target' && (event.phase === 'building' || event.phase === 'built'))).toEqual([]);
    expect((await status()).healthy).toBe(true);
  });

  it('down -v removes the volumes too', async () => {
    const result = await run(['down', '-v']);
    expect(result.exitCode).toBe(0);
    expect(await docker(['volume', 'ls', '--filter', `label=com.docker.compose.project=${name}`, '-q'])).toBe('');
    expect(await docker(['ps', '-a', '--filter', `label=com.docker.compose.project=${name}`, '-q'])).toBe('');
  });
});
