/**
 * The docker runtime converging on what the project says, through the built binary and a real
 * dockerd: `up` on a running stack touches nothing; a changed service definition re-creates that
 * one container; a taken port and a service that never gets healthy fail `up` with an error
 * naming them and leave nothing a later `up` trips on; `chaos stop` holds a container stopped
 * and brings it back, also on Ctrl-C. One stack serves every test: building its images is slow.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import type { ProgressEvent } from '../../src/core/events';
import type { StackStatus } from '../../src/runtime/types';
import { msctl, repoRoot } from '../support/cli';
import { ensureDockerDaemon, removeDockerStack, type DaemonHandle } from '../support/docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let daemon: DaemonHandle;
let project: ThrowawayProject;
let name: string;
const env = () => ({ ...project.env, MSCTL_RUNTIME: 'docker' });
// A bounded wait on every call: an `up` that hangs fails its test instead of the whole file's timeout.
const run = (args: string[], timeout = 600_000) => msctl([...args, '--project-dir', project.dir], { env: env(), timeout });
const status = async () => JSON.parse(String((await run(['status', '--json'])).stdout)) as StackStatus;
const target = async (wanted: string) => (await status()).targets.find((t) => t.name === wanted)!;
const docker = async (args: string[]) => String((await execa('docker', args)).stdout).trim();
const events = (stdout: unknown) => String(stdout).split('\n').filter((line) => line.startsWith('{"type"')).map((line) => JSON.parse(line) as ProgressEvent);
const jsonError = (stdout: unknown) => (JSON.parse(String(stdout).split('\n').find((line) => line.startsWith('{"error"')) ?? 'null') as { error: { code: string; message: string; hint?: string } } | null)?.error;
const STACK_TRACE = /^\s+at .+\(?.+:\d+:\d+\)?$/m;

/** Target → id of its container, for every container of the stack (running or not). */
async function containerIds(): Promise<Record<string, string>> {
  const lines = await docker(['ps', '-a', '--no-trunc', '--filter', `label=com.docker.compose.project=${name}`, '--format', '{{.Label "dev.msctl.target"}} {{.ID}}']);
  return Object.fromEntries(lines.split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string]));
}

const inspect = async (container: string) =>
  JSON.parse(await docker(['inspect', container]))[0] as {
    Id: string;
    State: { Status: string; Running: boolean; StartedAt: string };
    Config: { Labels: Record<string, string>; Healthcheck: { StartPeriod: number; Test: string[] } };
  };

const manifestPath = (service: string) => join(project.dir, 'services', service, 'service.json');
async function editManifest(service: string, change: (manifest: Record<string, unknown>) => void): Promise<void> {
  const manifest = JSON.parse(await readFile(manifestPath(service), 'utf8')) as Record<string, unknown>;
  change(manifest);
  await writeFile(manifestPath(service), JSON.stringify(manifest, null, 2));
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server));
  });
}

const chaos = (args: string[]) => execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'chaos', ...args, '--json', '--project-dir', project.dir], { env: { ...env(), NO_COLOR: '1' }, reject: false, timeout: 120_000 });
const chaosReport = (stdout: unknown) => JSON.parse(String(stdout).split('\n').find((line) => line.includes('"restoredAt"')) ?? 'null') as { restoredAt: string | null; interrupted: boolean } | null;

beforeAll(async () => {
  daemon = await ensureDockerDaemon();
  project = await createThrowawayProject(repoRoot);
  name = project.dir.split('/').at(-1)!.toLowerCase();
  const up = await run(['up', '-d', '--json']);
  if (up.exitCode !== 0) throw new Error(`the stack did not start:\n${up.stdout}\n${up.stderr}`);
}, 600_000);

afterAll(async () => {
  if (project) await removeDockerStack(project, () => run(['down', '-v']));
  await daemon?.stop();
}, 120_000);

describe('msctl up on the docker runtime converges', () => {
  it('up on a running stack exits 0 and re-creates nothing', async () => {
    const before = await containerIds();
    expect(Object.keys(before).sort()).toEqual(['analytics', 'data-processing', 'gateway', 'kafka', 'notifications', 'postgres', 'users']);
    const result = await run(['up', '-d', '--json']);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(await containerIds()).toEqual(before);
    expect(events(result.stdout).filter((event) => event.type === 'target')).toEqual([]);
    expect((await status()).healthy).toBe(true);
  });

  it('a changed service definition re-creates that container only', async () => {
    const before = await containerIds();
    const oldHash = (await inspect(before.notifications!)).Config.Labels['com.docker.compose.config-hash'];
    // The health check's start period comes from startTimeoutSeconds: notifications' container alone changes.
    await editManifest('notifications', (manifest) => {
      manifest.startTimeoutSeconds = 120;
    });
    const result = await run(['up', '-d', '--json']);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const after = await containerIds();
    expect(after.notifications).not.toBe(before.notifications);
    expect({ ...after, notifications: 'changed' }).toEqual({ ...before, notifications: 'changed' });
    const recreated = await inspect(after.notifications!);
    expect(recreated.Config.Labels['com.docker.compose.config-hash']).not.toBe(oldHash);
    expect(recreated.Config.Healthcheck.StartPeriod).toBe(120 * 1e9);
    expect((await status()).healthy).toBe(true);
  });

  it('a service that never gets healthy fails up with UNHEALTHY naming it, then a fixed definition comes up', async () => {
    const original = await readFile(manifestPath('notifications'), 'utf8');
    await editManifest('notifications', (manifest) => {
      manifest.healthPath = '/never-healthy';
      manifest.startTimeoutSeconds = 3;
    });
    const before = await containerIds();
    const failed = await run(['up', '-d', '--json'], 90_000);
    expect(failed.timedOut).toBe(false);
    expect(failed.exitCode).toBe(1);
    expect(jsonError(failed.stdout)).toMatchObject({ code: 'UNHEALTHY', message: expect.stringMatching(/^notifications did not become healthy within 3 s/) });
    expect(String(failed.stderr)).toMatch(/^error: notifications did not become healthy/m);
    expect(String(failed.stderr)).toMatch(/^hint: .*msctl logs notifications/ms);
    expect(String(failed.stderr)).not.toMatch(STACK_TRACE);
    // Only the broken service was touched.
    const after = await containerIds();
    expect({ ...after, notifications: 'changed' }).toEqual({ ...before, notifications: 'changed' });

    await writeFile(manifestPath('notifications'), original);
    const fixed = await run(['up', '-d', '--json']);
    expect(fixed.exitCode, `${fixed.stdout}\n${fixed.stderr}`).toBe(0);
    expect((await inspect(`${name}-notifications-1`)).Config.Healthcheck.Test.join(' ')).toContain('/health"');
    expect((await status()).healthy).toBe(true);
  });

  it('a taken gateway port fails up with PORT_IN_USE naming the port, and leaves nothing behind', async () => {
    const port = project.ports.gateway!;
    await docker(['rm', '-f', `${name}-gateway-1`]);
    const before = await containerIds();
    const squatter = await listen(port);
    let failed: Awaited<ReturnType<typeof run>>;
    try {
      failed = await run(['up', '-d', '--json'], 90_000);
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    expect(failed.exitCode).toBe(1);
    expect(jsonError(failed.stdout)).toMatchObject({ code: 'PORT_IN_USE', message: `port ${port} for gateway is taken by another process`, hint: expect.stringContaining(`sport = :${port}`) });
    expect(String(failed.stderr)).toMatch(new RegExp(`^error: port ${port} for gateway`, 'm'));
    expect(String(failed.stderr)).not.toMatch(STACK_TRACE);
    // No gateway container half-made (created, never started), nothing else touched.
    expect(await containerIds()).toEqual(before);

    const again = await run(['up', '-d', '--json']);
    expect(again.exitCode, `${again.stdout}\n${again.stderr}`).toBe(0);
    const after = await containerIds();
    expect({ ...after, gateway: 'new' }).toEqual({ ...before, gateway: 'new' });
    expect((await inspect(after.gateway!)).State.Running).toBe(true);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect((await status()).healthy).toBe(true);
  });

  it('chaos stop holds a container stopped for the duration, then it runs and is healthy again', async () => {
    const { restarts } = await target('users');
    const id = (await containerIds()).users!;
    const since = Math.floor(Date.now() / 1000) - 1;
    const stopping = chaos(['stop', 'users', '--for', '5s']);
    await eventually(async () => ((await inspect(id)).State.Status === 'exited' ? true : undefined), 30_000, 'users to be stopped');
    const result = await stopping;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(chaosReport(result.stdout)).toMatchObject({ interrupted: false, restoredAt: expect.any(String) });
    expect((await inspect(id)).State.Running).toBe(true);
    const back = await eventually(async () => {
      const users = await target('users');
      return users.state === 'healthy' ? users : undefined;
    }, 60_000, 'users to be healthy again');
    // Stopped and started once, by chaos alone: the watcher left the held container alone.
    expect(back.restarts).toBe(restarts);
    const starts = await docker(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000)), '--filter', `container=${id}`, '--filter', 'event=start', '--filter', 'event=stop', '--format', '{{.Action}}']);
    expect(starts.split('\n').sort()).toEqual(['start', 'stop']);
    expect(existsSync(join(project.dir, '.msctl', 'docker-hold', 'users'))).toBe(false);
  });

  it('chaos stop is undone by Ctrl-C: exit 130, the container runs again', async () => {
    const { restarts } = await target('analytics');
    const id = (await containerIds()).analytics!;
    const stopping = chaos(['stop', 'analytics', '--for', '10m']);
    await eventually(async () => ((await inspect(id)).State.Status === 'exited' ? true : undefined), 30_000, 'analytics to be stopped');
    stopping.kill('SIGINT');
    const result = await stopping;
    expect(result.exitCode, String(result.stderr)).toBe(130);
    // Started again by chaos itself before it exited, not later by anyone else.
    expect((await inspect(id)).State.Running).toBe(true);
    expect(chaosReport(result.stdout)).toMatchObject({ interrupted: true, restoredAt: expect.any(String) });
    expect(existsSync(join(project.dir, '.msctl', 'docker-hold', 'analytics'))).toBe(false);
    const back = await eventually(async () => {
      const analytics = await target('analytics');
      return analytics.state === 'healthy' ? analytics : undefined;
    }, 60_000, 'analytics to be healthy again');
    expect(back.restarts).toBe(restarts);
  });
});
