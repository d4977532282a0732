/**
 * The real proof of `msctl export compose`: in a throwaway project, `msctl up --runtime docker`
 * builds the images and leaves its data volumes behind (`msctl down`); the exported file then
 * brings the same stack up healthy with Debian's docker-compose on the real daemon — on the
 * same volumes, so Kafka must find its own KRaft cluster id — and serves the gateway flow.
 * `docker-compose down -v` leaves no container, network or volume.
 */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { msctl, repoRoot } from '../support/cli';
import { ensureDockerDaemon, type DaemonHandle } from '../support/docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let daemon: DaemonHandle;
let project: ThrowawayProject;
let name: string;
let composeFile: string;
const run = (args: string[]) => msctl([...args, '--project-dir', project.dir], { env: { ...project.env, MSCTL_RUNTIME: 'docker' }, timeout: 600_000 });
const compose = (args: string[]) => execa('docker-compose', ['-f', composeFile, '-p', name, ...args], { reject: false, cwd: project.dir, timeout: 600_000 });
const docker = async (args: string[]) => String((await execa('docker', args)).stdout).trim();

beforeAll(async () => {
  daemon = await ensureDockerDaemon();
  project = await createThrowawayProject(repoRoot);
  name = project.dir.split('/').at(-1)!.toLowerCase();
  composeFile = join(project.dir, 'compose.yaml');
}, 120_000);

afterAll(async () => {
  if (project) {
    await compose(['down', '-v', '--remove-orphans']);
    await run(['down', '-v']);
    const images = await docker(['images', '--filter', `reference=msctl/${name}-*`, '-q']).catch(() => '');
    if (images) await execa('docker', ['rmi', '-f', ...new Set(images.split('\n'))], { reject: false });
    await project.remove();
  }
  await daemon?.stop();
}, 180_000);

describe('msctl export compose on the docker engine', () => {
  it('msctl up --runtime docker builds the images; down keeps the volumes', async () => {
    const up = await run(['up', '-d']);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    const down = await run(['down']);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(await docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${name}`])).toContain(`${name}_kafka-data`);
  }, 600_000);

  it('exports the images msctl built, and docker-compose brings the stack up healthy from them', async () => {
    const exported = await run(['export', 'compose', '--json']);
    expect(exported.exitCode, String(exported.stderr)).toBe(0);
    const report = JSON.parse(String(exported.stdout)) as { out: string; images: Record<string, string>; secretFiles: string[] };
    expect(report.out).toBe(composeFile);
    for (const service of ['users', 'gateway']) expect(report.images[service]).toMatch(new RegExp(`^msctl/${name}-${service}:[0-9a-f]{12}$`));
    const text = await readFile(composeFile, 'utf8');
    const secrets = JSON.parse(await readFile(join(project.dir, '.msctl', 'secrets.json'), 'utf8')) as { jwtSecret: string; postgresPassword: string };
    expect(text).not.toContain(secrets.jwtSecret);
    expect(text).not.toContain(secrets.postgresPassword);
    const services = Object.keys((parse(text) as { services: Record<string, unknown> }).services);
    expect(services.sort()).toEqual(['analytics', 'data-processing', 'gateway', 'kafka', 'notifications', 'postgres', 'users']);

    const config = await compose(['config', '-q']);
    expect(config.exitCode, String(config.stderr)).toBe(0);
    const up = await compose(['up', '-d']);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    const health = async () => {
      const ids = (await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`])).split('\n').filter(Boolean);
      const inspected = JSON.parse(await docker(['inspect', ...ids])) as Array<{ Name: string; State: { Health?: { Status: string } } }>;
      return Object.fromEntries(inspected.map((c) => [c.Name.replace(/^\//, ''), c.State.Health?.Status ?? 'none']));
    };
    const states = await eventually(
      async () => {
        const current = await health();
        if (Object.keys(current).length !== services.length || Object.values(current).some((state) => state !== 'healthy')) throw new Error(JSON.stringify(current));
        return current;
      },
      300_000,
      'every container healthy',
    ).catch(async (error: unknown) => {
      const logs = await compose(['logs', '--tail', '15']);
      throw new Error(`not all healthy: ${(error as Error).message}\n${String(logs.stdout).slice(-6000)}`);
    });
    // The docker runtime's container names: the gateway reaches each upstream by them.
    expect(Object.keys(states).sort()).toEqual(services.map((service) => `${name}-${service}-1`).sort());
    expect(await docker(['exec', `${name}-users-1`, 'sh', '-c', 'grep ^Uid /proc/1/status'])).toMatch(/Uid:\s+1000\s/);
  }, 600_000);

  it('serves the gateway flow on 127.0.0.1: sign up, token, an event counted by analytics', async () => {
    const gateway = `http://127.0.0.1:${project.ports.gateway}`;
    const post = (path: string, body: unknown, token?: string) =>
      fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const signUp = await eventually(async () => {
      const response = await post('/api/users', { username: 'grace', email: 'grace@example.test', password: 'a long enough password' });
      if (response.status >= 500) throw new Error(`sign-up answered ${response.status}`);
      return response;
    }, 60_000, 'the gateway to answer');
    expect(signUp.status).toBe(201);
    const { accessToken } = (await (await post('/api/auth/token', { username: 'grace', password: 'a long enough password' })).json()) as { accessToken: string };
    expect((await post('/api/events', { events: [{ type: 'compose.e2e', data: {} }] }, accessToken)).status).toBe(202);
    await eventually(async () => {
      const summary = JSON.stringify(await (await fetch(`${gateway}/api/analytics/summary`, { headers: { authorization: `Bearer ${accessToken}` } })).json());
      if (!summary.includes('compose.e2e')) throw new Error(summary);
      return true;
    }, 60_000, 'analytics to count the event');
  }, 180_000);

  it('docker-compose down -v leaves no container, network or volume of the stack', async () => {
    const down = await compose(['down', '-v']);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(await docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${name}`])).toBe('');
    expect(await docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${name}`])).toBe('');
    expect(await docker(['network', 'ls', '-q', '--filter', `name=${name}_default`])).toBe('');
  }, 180_000);
});
