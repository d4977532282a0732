import { describe, expect, it } from 'vitest';
import { affectedServices } from '../../src/dev/changes';
import { type DevEvent, runDevLoop } from '../../src/dev/loop';
import type { StepResult } from '../../src/dev/build';
import type { ServiceManifest } from '../../src/stack/manifest';
import type { Project } from '../../src/stack/project';
import { sleep } from '../../src/core/sleep';

const servicesDir = '/p/services';
const dirs = { servicesDir, envDir: '/p/.msctl/env' };
const SERVICES = ['gateway', 'users', 'analytics'];

describe('which services a save affects', () => {
  it('a service source, its migrations, its manifest and its .env: that service, saying why', () => {
    expect(affectedServices([`${servicesDir}/users/src/service.ts`, `${servicesDir}/users/src/migrations/003.sql`, `${servicesDir}/users/service.json`, `${servicesDir}/users/.env`], dirs, SERVICES)).toEqual([
      { service: 'users', kinds: ['source', 'migration', 'manifest', 'env'], files: ['users/src/service.ts', 'users/src/migrations/003.sql', 'users/service.json', 'users/.env'] },
    ]);
  });

  it('the kit: every service', () => {
    expect(affectedServices([`${servicesDir}/kit/src/server.ts`], dirs, SERVICES).map((entry) => [entry.service, entry.kinds])).toEqual([
      ['gateway', ['kit']],
      ['users', ['kit']],
      ['analytics', ['kit']],
    ]);
  });

  it('.msctl/env/<service>.env: that service', () => {
    expect(affectedServices(['/p/.msctl/env/analytics.env'], dirs, SERVICES)).toEqual([{ service: 'analytics', kinds: ['env'], files: ['.msctl/env/analytics.env'] }]);
  });

  it('tests, bundles, node_modules, editor files, other folders and unwatched services: nothing', () => {
    const paths = [
      `${servicesDir}/users/test/users.test.ts`,
      `${servicesDir}/users/dist/main.js`,
      `${servicesDir}/users/src/.service.ts.swp`,
      `${servicesDir}/users/src/service.ts~`,
      `${servicesDir}/users/src/4913`,
      `${servicesDir}/users/README.md`,
      `${servicesDir}/kit/node_modules/x/index.js`,
      `${servicesDir}/kit/test/kit.test.ts`,
      '/p/src/cli/main.ts',
      `${servicesDir}/analytics/src/service.ts`,
    ];
    expect(affectedServices(paths, dirs, SERVICES, ['gateway', 'users'])).toEqual([]);
  });
});

function fakeProject(): Project {
  const manifest = (name: string) => ({ name, dir: `${servicesDir}/${name}` }) as ServiceManifest;
  return { root: '/p', servicesDir, stateDir: '/p/.msctl', manifests: SERVICES.map(manifest) } as unknown as Project;
}

/** The loop with fakes: a watcher the test fires, steps that answer as told, a clock that moves by 10 a call. */
function harness(steps: { bundle?: (service: string) => StepResult; typecheck?: (service: string) => StepResult; restart?: (service: string) => Promise<void> } = {}) {
  const events: DevEvent[] = [];
  const restarted: string[] = [];
  let fire: (paths: string[]) => void = () => undefined;
  let clock = 0;
  const controller = new AbortController();
  const done = runDevLoop({
    project: fakeProject(),
    services: SERVICES,
    watch: (onPaths) => {
      fire = onPaths;
      return () => undefined;
    },
    bundle: async (manifest) => steps.bundle?.(manifest.name) ?? { ok: true, ms: 5 },
    typecheck: async (manifest) => steps.typecheck?.(manifest.name) ?? { ok: true, ms: 7 },
    restart: async (service) => {
      await steps.restart?.(service);
      restarted.push(service);
    },
    reloadProject: async () => fakeProject(),
    emit: (event) => events.push(event),
    signal: controller.signal,
    debounceMs: 5,
    now: () => (clock += 10),
  });
  const settle = async (count: number) => {
    for (let i = 0; i < 200 && events.filter((event) => event.type === 'reloaded' || event.type === 'failed').length < count; i++) await sleep(5);
  };
  return {
    events,
    restarted,
    fire: (paths: string[]) => fire(paths),
    settle,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

describe('the dev loop', () => {
  it('a burst of saves to one service: one build, one restart, timed', async () => {
    const loop = harness();
    loop.fire([`${servicesDir}/users/src/a.ts`]);
    loop.fire([`${servicesDir}/users/src/b.ts`]);
    await loop.settle(1);
    await loop.stop();
    expect(loop.restarted).toEqual(['users']);
    expect(loop.events).toEqual([
      { type: 'changed', service: 'users', kinds: ['source'], files: ['users/src/a.ts', 'users/src/b.ts'] },
      { type: 'reloaded', service: 'users', kinds: ['source'], buildMs: 5, typecheckMs: 7, restartMs: 10 },
    ]);
  });

  it('a build or type error reaches no service: the error is shown, and the next good save recovers', async () => {
    let broken = true;
    const loop = harness({ typecheck: () => (broken ? { ok: false, ms: 3, output: "src/a.ts:1:7 - error TS2322: Type 'string' is not assignable to type 'number'.\n" } : { ok: true, ms: 3 }) });
    loop.fire([`${servicesDir}/users/src/a.ts`]);
    await loop.settle(1);
    expect(loop.restarted).toEqual([]);
    expect(loop.events.at(-1)).toMatchObject({ type: 'failed', service: 'users', step: 'typecheck', output: expect.stringContaining('TS2322') });
    broken = false;
    loop.fire([`${servicesDir}/users/src/a.ts`]);
    await loop.settle(2);
    await loop.stop();
    expect(loop.restarted).toEqual(['users']);
  });

  it('a kit change restarts every service, one at a time; one that fails to restart does not stop the others', async () => {
    let running = 0;
    let overlapping = false;
    const loop = harness({
      restart: async (service) => {
        running += 1;
        overlapping ||= running > 1;
        await sleep(5);
        running -= 1;
        if (service === 'users') throw new Error('users did not become healthy: it exited (code 1)');
      },
    });
    loop.fire([`${servicesDir}/kit/src/server.ts`]);
    await loop.settle(3);
    await loop.stop();
    expect(overlapping).toBe(false);
    expect(loop.restarted).toEqual(['gateway', 'analytics']);
    expect(loop.events.filter((event) => event.type === 'failed')).toEqual([{ type: 'failed', service: 'users', step: 'restart', output: 'users did not become healthy: it exited (code 1)\n' }]);
  });
});
