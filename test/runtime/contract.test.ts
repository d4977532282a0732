/**
 * What every runtime must do, tested once against the Runtime interface and run over both
 * implementations (local processes, docker containers) on a real Kafka, PostgreSQL and dockerd:
 * up gated on health, up again keeps what runs, restart runs code changed since the last start,
 * logs (then following), a service's environment and exec, chaos break and restore, scale
 * through the plan, the keeper coming back after it was killed, down.
 */
import { readFile, writeFile, mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProgressBus, type ProgressEvent } from '../../src/core/events';
import type { Runtime } from '../../src/runtime/runtime';
import { openRuntime } from '../../src/runtime/select';
import { scaleStack } from '../../src/runtime/start';
import type { LogLine, RuntimeKind, StackStatus } from '../../src/runtime/types';
import { isProcessAlive } from '../../src/infra/ports';
import { planUp } from '../../src/stack/plan';
import { loadProject, type Project } from '../../src/stack/project';
import { repoRoot } from '../support/cli';
import { ensureDockerDaemon, removeDockerStack, type DaemonHandle } from '../support/docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';
import { sleep } from '../../src/core/sleep';

const scriptsDir = join(repoRoot, 'dist');
const TIMEOUT = 600_000;

function recorder(): { bus: ProgressBus; events: ProgressEvent[] } {
  const bus = new ProgressBus();
  const events: ProgressEvent[] = [];
  bus.subscribe((event) => events.push(event));
  return { bus, events };
}

const byName = (status: StackStatus) => Object.fromEntries(status.targets.map((target) => [target.name, target]));

for (const kind of ['local', 'docker'] as const satisfies readonly RuntimeKind[]) {
  describe(`the ${kind} runtime`, () => {
    let throwaway: ThrowawayProject;
    let project: Project;
    let runtime: Runtime;
    let daemon: DaemonHandle | undefined;

    beforeAll(async () => {
      if (kind === 'docker') daemon = await ensureDockerDaemon();
      throwaway = await createThrowawayProject(repoRoot);
      project = await loadProject(throwaway.dir, { ...process.env, ...throwaway.env });
      runtime = await openRuntime(project, kind, { scriptsDir });
      expect(runtime.kind).toBe(kind);
    }, TIMEOUT);

    afterAll(async () => {
      const down = () => runtime.down({ volumes: true }, new ProgressBus()).catch(() => undefined);
      if (kind === 'docker') await removeDockerStack(throwaway, down);
      else {
        await down();
        await throwaway.remove();
      }
      await daemon?.stop();
    }, TIMEOUT);

    it('up starts what the plan starts, each gated on health', async () => {
      const plan = planUp(project.graph, ['users'], (await runtime.observe()).targets);
      expect(plan.steps.map((step) => [step.target, step.action])).toEqual([
        ['kafka', 'start'],
        ['postgres', 'start'],
        ['users', 'start'],
      ]);
      const { bus, events } = recorder();
      await runtime.up(plan, { timeoutSeconds: 180 }, bus);
      const status = await runtime.status();
      expect(status.runtime).toBe(kind);
      expect(status.supervisor.state).toBe('running');
      const targets = byName(status);
      for (const name of ['kafka', 'postgres', 'users']) expect(targets[name]?.state, name).toBe('healthy');
      expect(targets.users?.health).toBe('pass');
      // The services were told where to send spans: msctl's receiver, which the keeper runs.
      expect(await runtime.traceEndpoint()).toMatch(/^http:\/\/[\d.]+:\d+$/);
      // Nothing was reported healthy before it was started.
      const healthy = events.filter((event) => event.type === 'target' && event.phase === 'healthy').map((event) => (event.type === 'target' ? event.target : ''));
      expect(healthy).toEqual(expect.arrayContaining(['kafka', 'postgres', 'users']));
    }, TIMEOUT);

    it('up again keeps what runs', async () => {
      const plan = planUp(project.graph, ['users'], (await runtime.observe()).targets);
      expect(plan.steps.every((step) => step.action === 'keep'), JSON.stringify(plan.steps)).toBe(true);
      const before = byName(await runtime.status());
      await runtime.up(plan, { timeoutSeconds: 180 }, new ProgressBus());
      const after = byName(await runtime.status());
      expect(after.users?.pid).toBe(before.users?.pid);
    }, TIMEOUT);

    it('restart runs the code changed since the service started: the bundle is rebuilt first', async () => {
      const manifest = project.manifests.find((m) => m.name === 'users')!;
      const bundle = join(manifest.dir, 'dist', 'main.js');
      // The service's sources: its built bundle (less the line the build adds again) and a marker,
      // newer than the bundle, so the bundle is stale.
      const marker = `contract-${kind}-${Date.now()}`;
      await mkdir(join(manifest.dir, 'src'), { recursive: true });
      const built = await readFile(bundle, 'utf8');
      await writeFile(join(manifest.dir, 'src', 'bundle.js'), built.slice(built.indexOf('\n') + 1));
      await writeFile(join(manifest.dir, 'src', 'main.ts'), `(globalThis as Record<string, unknown>).marker = '${marker}';\nimport './bundle.js';\n`);
      const future = new Date(Date.now() + 5_000);
      await utimes(join(manifest.dir, 'src', 'main.ts'), future, future);
      const before = byName(await runtime.status()).users!;
      const { bus, events } = recorder();
      await runtime.restart('users', bus);
      expect(events.some((event) => event.type === 'target' && event.target === 'users' && event.phase === 'built'), JSON.stringify(events)).toBe(true);
      expect(await readFile(bundle, 'utf8')).toContain(marker);
      const after = byName(await runtime.status()).users!;
      expect(after.state).toBe('healthy');
      expect(after.restarts).toBe(before.restarts + 1);
      expect(after.pid).not.toBe(before.pid);
    }, TIMEOUT);

    it('logs: the last lines of a target, then new ones while following', async () => {
      const snapshot: LogLine[] = [];
      let present: string[] = [];
      await runtime.logs({ targets: ['users'], tail: 5, follow: false, signal: new AbortController().signal }, { snapshot: (lines, targets) => { snapshot.push(...lines); present = targets; }, line: (line) => snapshot.push(line) });
      expect(present).toEqual(['users']);
      expect(snapshot.length).toBeGreaterThan(0);
      expect(snapshot.length).toBeLessThanOrEqual(5);
      expect(snapshot.every((line) => line.target === 'users')).toBe(true);

      // Following: a refusal the service logs after the snapshot arrives as a new line.
      const followed: LogLine[] = [];
      const abort = new AbortController();
      let snapshotTaken!: () => void;
      const taken = new Promise<void>((resolve) => (snapshotTaken = resolve));
      const following = runtime.logs({ targets: ['users'], tail: 0, follow: true, signal: abort.signal }, { snapshot: () => snapshotTaken(), line: (line) => followed.push(line) });
      try {
        await taken;
        const path = `/contract-follow-${kind}-${Date.now()}`;
        const port = byName(await runtime.status()).users!.port!;
        const deadline = Date.now() + 30_000;
        // Asked again until its line arrives: docker's follow stream may attach a moment after the snapshot.
        while (!followed.some((line) => line.text.includes(path)) && Date.now() < deadline) {
          expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(401);
          await sleep(500);
        }
        expect(followed.find((line) => line.text.includes(path))?.target).toBe('users');
      } finally {
        abort.abort();
        await following;
      }
    }, TIMEOUT);

    it('environment: what an instance runs with, on this runtime', async () => {
      const env = await runtime.environment('users');
      expect(env.SERVICE_NAME).toBe('users');
      expect(env.DATABASE_SCHEMA).toBe('users');
      expect(env.DATABASE_URL).toMatch(/^postgres(ql)?:\/\//);
      expect(env.KAFKA_BROKERS).toMatch(/:\d+$/);
      expect(env.INTERNAL_AUTH_PUBLIC_KEY).toContain('PUBLIC KEY');
      // users signs no assertions: only the gateway holds the private half.
      expect(env.INTERNAL_AUTH_PRIVATE_KEY).toBeUndefined();
      await expect(runtime.environment('nope')).rejects.toThrow(/nope/);
    }, TIMEOUT);

    it('exec runs a command with that environment and answers its exit code', async () => {
      const env = await runtime.environment('users');
      const check = `process.exit(process.env.DATABASE_SCHEMA === 'users' && process.env.PORT === ${JSON.stringify(env.PORT)} ? 7 : 3)`;
      expect(await runtime.exec('users', { command: ['node', '-e', check], tty: false })).toBe(7);
      await expect(runtime.exec('users', { command: [], tty: false })).rejects.toThrow(/no command/);
    }, TIMEOUT);

    it('chaos: a paused service is silent until restored, then answers again', async () => {
      const users = byName(await runtime.status()).users!;
      const broken = await runtime.breakTarget(users, 'pause', 1_000, new ProgressBus());
      expect(broken.restoredBy).toBe('msctl');
      const port = users.port!;
      const silent = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) }).then(() => false, () => true);
      expect(silent).toBe(true);
      expect(await broken.restore!()).toMatch(/users is back/);
      const answer = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
      expect(answer.status).toBe(200);
      // The runtime sees it healthy again once its next health check passes (docker's may have failed meanwhile).
      const deadline = Date.now() + 120_000;
      while (byName(await runtime.status()).users?.state !== 'healthy' && Date.now() < deadline) await sleep(500);
      expect(byName(await runtime.status()).users?.state).toBe('healthy');
    }, TIMEOUT);

    it('scale converges through the plan: the missing instance starts, then the surplus one stops', async () => {
      const converge = async (users: number) => (await scaleStack(runtime, project, { users }, { timeoutSeconds: 180 }, new ProgressBus())).steps.find((step) => step.target === 'users');
      expect(await converge(2)).toMatchObject({ action: 'scale', instances: { start: ['users#2'], stop: [] } });
      let users = (await runtime.status()).targets.filter((target) => target.name.startsWith('users'));
      expect(users.map((target) => [target.name, target.state])).toEqual([
        ['users', 'healthy'],
        ['users#2', 'healthy'],
      ]);
      expect(await converge(1)).toMatchObject({ action: 'scale', instances: { start: [], stop: ['users#2'] } });
      users = (await runtime.status()).targets.filter((target) => target.name.startsWith('users'));
      expect(users.map((target) => [target.name, target.state])).toEqual([['users', 'healthy']]);
    }, TIMEOUT);

    it('up brings back the keeper (supervisor or watcher) after it was killed, and the stack is healthy', async () => {
      const keeper = (await runtime.status()).supervisor.pid!;
      process.kill(keeper, 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (isProcessAlive(keeper) && Date.now() < deadline) await sleep(100);
      expect((await runtime.status()).supervisor.state).toBe('stale');
      const plan = planUp(project.graph, ['users'], (await runtime.observe()).targets);
      await runtime.up(plan, { timeoutSeconds: 180 }, new ProgressBus());
      const status = await runtime.status();
      expect(status.supervisor.state).toBe('running');
      expect(status.supervisor.pid).not.toBe(keeper);
      for (const name of ['kafka', 'postgres', 'users']) expect(byName(status)[name]?.state, name).toBe('healthy');
    }, TIMEOUT);

    it('down stops everything', async () => {
      const result = await runtime.down({ volumes: false }, new ProgressBus());
      expect(result.stopped).toEqual(expect.arrayContaining(['kafka', 'postgres', 'users']));
      const status = await runtime.status();
      expect(status.targets.filter((target) => target.state !== 'stopped').map((target) => target.name)).toEqual([]);
      expect(status.supervisor.state).toBe('none');
    }, TIMEOUT);
  });
}
