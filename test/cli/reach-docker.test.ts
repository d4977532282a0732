/**
 * `msctl env` and `msctl exec` on the docker runtime, through the built binary and a real dockerd:
 * env shows what the container was created with (in-network addresses, secrets masked), exec runs
 * inside the container with that environment and returns the command's exit code, and an edited
 * override reaches the service at `msctl restart` (a new container, as `up` would make). Only
 * users and what it needs run: a docker stack start is slow on a small machine.
 */
import { execa } from 'execa';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msctl, repoRoot } from '../support/cli';
import { ensureDockerDaemon, removeDockerStack, type DaemonHandle } from '../support/docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let daemon: DaemonHandle;
let project: ThrowawayProject;
let name: string;
const env = () => ({ ...project.env, MSCTL_RUNTIME: 'docker' });
const run = (args: string[]) => msctl([...args, '--project-dir', project.dir], { env: env(), timeout: 600_000 });
const exec = (args: string[]) => msctl(['exec', '--project-dir', project.dir, ...args], { env: env() });
const containerEnv = async () => {
  const entries = JSON.parse(String((await execa('docker', ['inspect', '--format', '{{json .Config.Env}}', `${name}-users-1`])).stdout)) as string[];
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
};

beforeAll(async () => {
  daemon = await ensureDockerDaemon();
  project = await createThrowawayProject(repoRoot);
  name = project.dir.split('/').at(-1)!.toLowerCase();
  const up = await run(['up', '-d', 'users']);
  expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
}, 900_000);

afterAll(async () => {
  if (project) await removeDockerStack(project, () => run(['down', '-v']));
  await daemon?.stop();
}, 120_000);

describe('reaching a service on the docker runtime', () => {
  it('msctl env shows what the container runs with, secrets masked unless asked', async () => {
    const shown = JSON.parse(String((await run(['env', 'users', '--json', '--show-secrets'])).stdout)) as { runtime: string; env: Record<string, string> };
    expect(shown.runtime).toBe('docker');
    expect(shown.env).toMatchObject({ HOST: '0.0.0.0', KAFKA_BROKERS: 'kafka:9092', DATABASE_SCHEMA: 'users' });
    const running = await containerEnv();
    for (const [key, value] of Object.entries(shown.env)) expect(running[key], key).toBe(value);
    const secrets = JSON.parse(await readFile(join(project.dir, '.msctl', 'secrets.json'), 'utf8')) as { jwtSecret: string };
    const masked = String((await run(['env', 'users'])).stdout);
    expect(masked).toMatch(/^DATABASE_URL='postgres:\/\/users:\*\*\*\*@postgres:5432\/postgres'$/m);
    expect(masked).toMatch(/^JWT_SECRET='\*\*\*\*'$/m);
    expect(masked).not.toContain(secrets.jwtSecret);
  });

  it('msctl exec runs inside the container with its environment and exits with the command\'s code', async () => {
    const hostname = String((await execa('docker', ['inspect', '--format', '{{.Config.Hostname}}', `${name}-users-1`])).stdout).trim();
    const result = await exec(['users', '--', 'node', '-e', "console.log(require('os').hostname(), process.env.SERVICE_NAME, process.env.KAFKA_BROKERS); process.exit(5)"]);
    expect(result.exitCode, String(result.stderr)).toBe(5);
    expect(String(result.stdout).trim()).toBe(`${hostname} users kafka:9092`);
    const errors = await exec(['users', '--', 'node', '-e', "process.stderr.write('to stderr')"]);
    expect(errors.exitCode).toBe(0);
    expect(String(errors.stderr)).toBe('to stderr');
    expect(String(errors.stdout)).toBe('');
  });

  it('an override shows in msctl env and exec at once, and in the container after msctl restart', async () => {
    await mkdir(join(project.dir, '.msctl', 'env'), { recursive: true });
    await writeFile(join(project.dir, '.msctl', 'env', 'users.env'), 'LOG_LEVEL=debug\n');
    expect(String((await run(['env', 'users'])).stdout)).toMatch(/^LOG_LEVEL=debug {2}# override: \.msctl\/env\/users\.env$/m);
    expect(String((await exec(['users', '--', 'node', '-e', 'process.stdout.write(process.env.LOG_LEVEL)'])).stdout)).toBe('debug');
    expect((await containerEnv()).LOG_LEVEL).toBe('info');
    const restart = await run(['restart', 'users']);
    expect(restart.exitCode, `${restart.stdout}\n${restart.stderr}`).toBe(0);
    expect((await containerEnv()).LOG_LEVEL).toBe('debug');
  });
});
