/**
 * The local supervisor's recovery paths, driven by fake timers and fake child processes:
 * restart back-off and its reset, the crash-loop policy, stop's SIGTERM → SIGKILL escalation,
 * and what an exit leaves in the state. One case spawns a real `node` that ignores SIGTERM.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { observe } from '../../src/runtime/local/observe';
import { readState, type TargetState } from '../../src/runtime/local/state';
import { Supervisor, serviceNodeFlags, serviceNodeOptions, type HealthAnswer, type SupervisorDeps } from '../../src/runtime/local/supervisor';
import { DependencyGraph } from '../../src/stack/graph';
import type { ServiceManifest } from '../../src/stack/manifest';
import type { UpPlan } from '../../src/stack/plan';
import { stackNodes, type Project } from '../../src/stack/project';

// Captured before any test fakes timers: the real-process case needs a real deadline.
const realSetTimeout = globalThis.setTimeout;

const START = Date.parse('2025-01-01T12:00:00Z');
const PORT = 4101;

/** A child process as the supervisor sees it: pid, stdout/stderr, kill(), and 'exit'. */
class FakeChild extends EventEmitter {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly signals: NodeJS.Signals[] = [];
  exited = false;
  /** A process that traps SIGTERM (or hangs in its shutdown) only goes on SIGKILL. */
  ignoresSigterm = false;

  constructor(readonly pid: number) {
    super();
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    // A real child reports its exit later, never from inside kill().
    if (!(this.ignoresSigterm && signal === 'SIGTERM')) queueMicrotask(() => this.exit(null, signal));
    return true;
  }

  exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, signal);
  }
}

const plan: UpPlan = {
  requested: ['users'],
  steps: [{ target: 'users', kind: 'service', action: 'start', reason: 'not running', level: 0, needs: [] }],
};

function fixtureProject(): Project {
  const root = mkdtempSync(join(tmpdir(), 'msctl-supervisor-'));
  const manifest: ServiceManifest = {
    name: 'users',
    description: '',
    port: PORT,
    healthPath: '/health',
    needs: [],
    produces: [],
    consumes: [],
    replicas: 1,
    gateway: false,
    routes: [],
    dir: join(root, 'services', 'users'),
  };
  mkdirSync(join(manifest.dir, 'dist'), { recursive: true });
  return {
    root,
    servicesDir: join(root, 'services'),
    stateDir: join(root, '.msctl'),
    name: 'fixture',
    manifests: [manifest],
    graph: new DependencyGraph(stackNodes([manifest])),
    infrastructure: { kafkaPort: 1, kafkaControllerPort: 2, postgresPort: 3, postgresUser: 'msctl' },
    settings: {},
  };
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  vi.useRealTimers();
});

/** Lets the supervisor's promise chains (spawn after a timer, stop after an exit) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A supervisor of one service, `users`, whose processes are FakeChild instances. */
function world(options: { realSpawn?: boolean } = {}) {
  const project = fixtureProject();
  const children: FakeChild[] = [];
  const control = { healthStatus: 200, portFree: true };
  const deps: SupervisorDeps = {
    startKafka: () => Promise.reject(new Error('no Kafka in these tests')),
    startPostgres: () => Promise.reject(new Error('no PostgreSQL in these tests')),
    provisionDatabaseRoles: () => Promise.reject(new Error('no PostgreSQL in these tests')),
    createTopics: async () => undefined,
    fetchHealth: async (): Promise<HealthAnswer> => ({
      httpStatus: control.healthStatus,
      status: control.healthStatus === 200 ? 'pass' : 'fail',
      checks: {},
      circuits: {},
      problems: {},
    }),
    nodePath: process.execPath,
    now: () => Date.now(),
    isPortFree: async () => control.portFree,
    ...(options.realSpawn
      ? {}
      : {
          spawn: () => {
            const child = new FakeChild(10_000 + children.length);
            children.push(child);
            return child as unknown as ChildProcess;
          },
        }),
  };
  const supervisor = new Supervisor(
    project,
    { jwtSecret: 'j', postgresPassword: 'p', otlpToken: 'o', roleSeed: 'r', internalAuth: { privateKey: 'PRIVATE KEY', publicKey: 'PUBLIC KEY' } },
    deps,
    join(project.stateDir, 'supervisor.sock'),
  );
  cleanups.push(async () => {
    for (const child of children) child.ignoresSigterm = false;
    await supervisor.down();
    rmSync(project.root, { recursive: true, force: true });
  });

  const users = (): TargetState => supervisor.snapshot().targets.users!;
  const latest = (): FakeChild => children.at(-1)!;

  /** The next restart comes exactly `delay` ms after the crash: not a millisecond sooner. */
  const expectRestartAfter = async (delay: number) => {
    const before = children.length;
    await vi.advanceTimersByTimeAsync(delay - 1);
    await settle();
    expect(children.length, `restarted before ${delay} ms`).toBe(before);
    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(children.length, `not restarted at ${delay} ms`).toBe(before + 1);
    expect(users().phase).toBe('starting');
    expect(users().pid).toBe(latest().pid);
  };

  const crash = (code: number | null = 1, signal: NodeJS.Signals | null = null) => {
    latest().exit(code, signal);
  };

  return { project, supervisor, children, control, users, latest, crash, expectRestartAfter };
}

const installFakeClock = () => vi.useFakeTimers({ now: START, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });

/** Three quick crashes while /health fails (the next delay would be 4 s), then healthy again. */
async function crashThriceThenHealthy() {
  installFakeClock();
  const w = world();
  w.supervisor.start();
  await w.supervisor.up(plan, 90);
  w.control.healthStatus = 503;
  for (const delay of [500, 1_000, 2_000]) {
    w.crash(1);
    await w.expectRestartAfter(delay);
  }
  w.control.healthStatus = 200;
  await vi.advanceTimersByTimeAsync(1_000);
  expect(w.users().phase).toBe('healthy');
  return w;
}

describe('Supervisor: restart back-off', () => {
  it('doubles the delay between restarts while the process keeps crashing', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);
    expect(w.users().phase).toBe('healthy');

    for (const [index, delay] of [500, 1_000, 2_000, 4_000, 8_000].entries()) {
      w.crash(1);
      expect(w.users().phase).toBe('restarting');
      expect(w.users().restarts).toBe(index + 1);
      expect(w.users().detail).toBe(`exited (code 1); restart ${index + 1} in ${(delay / 1000).toFixed(1)} s`);
      await w.expectRestartAfter(delay);
    }
    expect(w.children).toHaveLength(6);
  });

  it('starts the back-off over once the restarted process has stayed healthy for 30 s', async () => {
    const w = await crashThriceThenHealthy();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(w.users().phase).toBe('healthy');

    w.crash(1);
    expect(w.users().restarts).toBe(4);
    expect(w.users().detail).toBe('exited (code 1); restart 4 in 0.5 s');
    await w.expectRestartAfter(500);
    // And it doubles again from there.
    w.crash(1);
    await w.expectRestartAfter(1_000);
  });

  it('keeps the back-off when the process was healthy for less than 30 s before crashing', async () => {
    const w = await crashThriceThenHealthy();
    // Healthy since at most 1 s ago: 28 s more stays short of the 30 s.
    await vi.advanceTimersByTimeAsync(28_000);

    w.crash(1);
    expect(w.users().detail).toBe('exited (code 1); restart 4 in 4.0 s');
    await w.expectRestartAfter(4_000);
  });
});

describe('Supervisor: crash loop', () => {
  it('never gives up: restarts a crash-looping process forever, at most 30 s apart, and says so in the state', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);

    const delays = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000, 30_000, 30_000];
    for (const [index, delay] of delays.entries()) {
      w.crash(2);
      expect(w.users().phase).toBe('restarting');
      expect(w.users().health).toBe('fail');
      expect(w.users().detail).toBe(`exited (code 2); restart ${index + 1} in ${(delay / 1000).toFixed(1)} s`);
      await w.expectRestartAfter(delay);
    }
    expect(w.children).toHaveLength(delays.length + 1);

    w.crash(2);
    await w.supervisor.flushState();
    const saved = (await readState(w.project.stateDir))!.targets.users!;
    expect(saved).toMatchObject({ phase: 'restarting', restarts: 13, health: 'fail', detail: 'exited (code 2); restart 13 in 30.0 s' });
    expect(saved.pid).toBeUndefined();
  });

  it('marks the target failed, and stops retrying, when a restart cannot start the process', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);

    w.crash(1);
    w.control.portFree = false;
    await vi.advanceTimersByTimeAsync(500);
    await settle();
    expect(w.users().phase).toBe('failed');
    expect(w.users().detail).toBe(`port ${PORT} for users is taken by another process`);
    expect(w.users().restarts).toBe(1);

    await vi.advanceTimersByTimeAsync(120_000);
    await settle();
    expect(w.children).toHaveLength(1);
    expect(w.users().phase).toBe('failed');
  });
});

describe('Supervisor: stop', () => {
  it('sends SIGTERM only, and does not restart, when the process exits within the grace period', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);

    await w.supervisor.hold('users');
    expect(w.latest().signals).toEqual(['SIGTERM']);
    expect(w.users()).toMatchObject({ phase: 'stopped', restarts: 0, lastExit: { code: null, signal: 'SIGTERM' } });
    expect(w.users().pid).toBeUndefined();

    await vi.advanceTimersByTimeAsync(60_000);
    await settle();
    expect(w.latest().signals).toEqual(['SIGTERM']);
    expect(w.children).toHaveLength(1);
    expect(w.users().phase).toBe('stopped');
  });

  it('escalates to SIGKILL when the process is still there 15 s after SIGTERM', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);
    const child = w.latest();
    child.ignoresSigterm = true;

    let stopped = false;
    const stopping = w.supervisor.hold('users').then(() => {
      stopped = true;
    });
    await settle();
    expect(child.signals).toEqual(['SIGTERM']);
    expect(w.users().phase).toBe('stopping');

    await vi.advanceTimersByTimeAsync(14_999);
    await settle();
    expect(child.signals).toEqual(['SIGTERM']);
    expect(stopped).toBe(false);

    await vi.advanceTimersByTimeAsync(1);
    await settle();
    expect(child.signals).toEqual(['SIGTERM', 'SIGKILL']);
    await stopping;
    expect(w.users()).toMatchObject({ phase: 'stopped', restarts: 0, lastExit: { code: null, signal: 'SIGKILL' } });
    expect(w.children).toHaveLength(1);
  });

  it('kills a real process that ignores SIGTERM once the grace period has passed', async () => {
    // Only the grace timer is fake; the child, its output and its exit are real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const w = world({ realSpawn: true });
    writeFileSync(
      join(w.project.manifests[0]!.dir, 'dist', 'main.js'),
      "process.on('SIGTERM', () => console.log('ignoring SIGTERM'));\nconsole.log('ready');\nsetInterval(() => undefined, 60_000);\n",
    );
    const lines: string[] = [];
    const waiters: Array<() => void> = [];
    w.supervisor.bus.subscribe((event) => {
      if (event.type !== 'log') return;
      lines.push(event.line);
      for (const wake of waiters.splice(0)) wake();
    });
    const within = <T>(promise: Promise<T>, what: string) =>
      Promise.race([promise, new Promise<never>((_, reject) => realSetTimeout(() => reject(new Error(`timed out waiting for ${what}`)), 5_000))]);
    const waitForLine = (line: string) =>
      within(
        new Promise<void>((resolve) => {
          const check = () => (lines.includes(line) ? resolve() : waiters.push(check));
          check();
        }),
        `"${line}"`,
      );

    await w.supervisor.up(plan, 90);
    const pid = w.users().pid!;
    cleanups.push(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone, as it should be.
      }
    });
    await waitForLine('ready');

    const stopping = w.supervisor.hold('users');
    await waitForLine('ignoring SIGTERM');
    expect(w.users().phase).toBe('stopping');
    expect(() => process.kill(pid, 0)).not.toThrow();

    vi.advanceTimersByTime(15_000);
    await within(stopping, 'the stop to finish');
    expect(w.users()).toMatchObject({ phase: 'stopped', lastExit: { code: null, signal: 'SIGKILL' } });
    expect(() => process.kill(pid, 0)).toThrow();
  });
});

describe('Supervisor: exits in the state', () => {
  it('records a clean exit as code 0 without a signal, in memory and in state.json', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);
    await vi.advanceTimersByTimeAsync(5_000);
    const at = new Date(Date.now()).toISOString();

    w.crash(0, null);
    expect(w.users().lastExit).toEqual({ code: 0, signal: null, at });
    expect(w.users().pid).toBeUndefined();
    // Nothing asked it to stop, so even a clean exit is restarted, and counted.
    expect(w.users()).toMatchObject({ phase: 'restarting', restarts: 1, detail: 'exited (code 0); restart 1 in 0.5 s' });

    await w.supervisor.flushState();
    expect((await readState(w.project.stateDir))!.targets.users!.lastExit).toEqual({ code: 0, signal: null, at });
  });

  it('rewrites state.json when a target changed, not on every health poll', async () => {
    installFakeClock();
    const w = world();
    w.supervisor.start();
    await w.supervisor.up(plan, 90);
    await vi.advanceTimersByTimeAsync(2_000);
    await w.supervisor.flushState();
    const file = join(w.project.stateDir, 'state.json');
    const written = statSync(file).mtimeMs;
    await vi.advanceTimersByTimeAsync(5_000); // five polls, all healthy again
    await w.supervisor.flushState();
    expect(statSync(file).mtimeMs).toBe(written);

    w.control.healthStatus = 503;
    await vi.advanceTimersByTimeAsync(1_000);
    await w.supervisor.flushState();
    expect((await readState(w.project.stateDir))!.targets.users!.phase).toBe('unhealthy');
  });

  it("records a crash's exit code, and the signal's name when a signal ended it", async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);

    w.crash(3, null);
    expect(w.users().lastExit).toMatchObject({ code: 3, signal: null });
    expect(w.users().detail).toBe('exited (code 3); restart 1 in 0.5 s');
    await w.expectRestartAfter(500);

    w.crash(null, 'SIGSEGV');
    expect(w.users().lastExit).toMatchObject({ code: null, signal: 'SIGSEGV' });
    expect(w.users().detail).toBe('exited (SIGSEGV); restart 2 in 1.0 s');

    await w.supervisor.flushState();
    expect((await readState(w.project.stateDir))!.targets.users!.lastExit).toMatchObject({ code: null, signal: 'SIGSEGV' });
  });
});

describe('Supervisor: a health-gated start', () => {
  it('up resolves only once the service answers /health with 200, and says healthy then', async () => {
    installFakeClock();
    const w = world();
    w.control.healthStatus = 503;
    let done = false;
    const started = w.supervisor.up(plan, 90).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(done).toBe(false);
    expect(w.users().phase).not.toBe('healthy');
    w.control.healthStatus = 200;
    await vi.advanceTimersByTimeAsync(1_000);
    await started;
    expect(w.users().phase).toBe('healthy');
  });
});

describe('Supervisor: restart', () => {
  it('stops the process gracefully, starts a new one, and counts the restart', async () => {
    installFakeClock();
    const w = world();
    await w.supervisor.up(plan, 90);
    const first = w.latest();
    expect(w.users().restarts).toBe(0);
    const restarted = w.supervisor.restart('users', 90);
    await vi.advanceTimersByTimeAsync(1_000);
    await restarted;
    expect(first.signals).toEqual(['SIGTERM']);
    expect(w.latest()).not.toBe(first);
    expect(w.users().pid).toBe(w.latest().pid);
    expect(w.users().restarts).toBe(1);
    expect(w.users().phase).toBe('healthy');
  });
});

describe('a stale pid in the state file', () => {
  it('is not taken for ours: a pid that now belongs to another process counts as stopped, and nobody is signalled', async () => {
    const project = fixtureProject();
    cleanups.push(() => rmSync(project.root, { recursive: true, force: true }));
    mkdirSync(project.stateDir, { recursive: true });
    // After a reboot the pid went to some other process: this test runner, whose command line lacks the marker.
    const users: TargetState = { name: 'users', kind: 'service', phase: 'healthy', pid: process.pid, restarts: 0, health: 'pass', checks: {}, circuits: {}, problems: {}, commandMarker: 'services/users/dist/main.js' };
    writeFileSync(
      join(project.stateDir, 'state.json'),
      JSON.stringify({ version: 1, runtime: 'local', project: project.root, supervisor: { pid: 999_999, startedAt: new Date(START).toISOString(), socket: join(project.stateDir, 'supervisor.sock') }, updatedAt: new Date(START).toISOString(), targets: { users } }),
    );
    const observation = await observe(project);
    expect(observation.supervisor).toBe('stale');
    expect(observation.targets.get('users')).toEqual({ name: 'users', phase: 'stopped' });
  });
});

describe('serviceNodeFlags', () => {
  it("leaves out msctl's own flag when MSCTL_SERVICE_NODE_OPTIONS sets it: the command line would win over NODE_OPTIONS", () => {
    expect(serviceNodeFlags({})).toEqual(['--max-semi-space-size=16', '--expose-gc']);
    expect(serviceNodeFlags({ MSCTL_SERVICE_NODE_OPTIONS: '--cpu-prof --cpu-prof-dir=/tmp/p' })).toEqual(['--max-semi-space-size=16', '--expose-gc']);
    expect(serviceNodeFlags({ MSCTL_SERVICE_NODE_OPTIONS: '--enable-source-maps --max-semi-space-size=64' })).toEqual(['--expose-gc']);
    expect(serviceNodeFlags({ MSCTL_SERVICE_NODE_OPTIONS: '--no-expose-gc' })).toEqual(['--max-semi-space-size=16']);
    expect(serviceNodeOptions({ MSCTL_SERVICE_NODE_OPTIONS: ' --max-semi-space-size=64 ' })).toEqual({ NODE_OPTIONS: '--max-semi-space-size=64' });
  });
});
