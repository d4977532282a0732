/**
 * The local runtime's supervisor: a detached process that owns the stack. It starts the
 * infrastructure and the services in plan order, gates each level on health, restarts a
 * crashed service with backoff, keeps every log in a rotating file, and writes the state
 * that `status`, `logs`, `restart` and `down` read.
 */
import type { HealthSummary } from '../types';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MsctlError } from '../../core/errors';
import { terminalSafe } from '../../core/terminal-text';
import { ProgressBus, type TargetPhase } from '../../core/events';
import { serviceBundle } from '../../stack/build';
import { gatewayRoutes, loadManifests, stackTopics, type ServiceManifest } from '../../stack/manifest';
import { DependencyGraph } from '../../stack/graph';
import type { PlanStep, UpPlan } from '../../stack/plan';
import { manifestOf, stackNodes, type Project } from '../../stack/project';
import type { StackSecrets } from '../../stack/secrets';
import { serviceDatabaseUrl } from '../../stack/database-roles';
import { kafkaBootstrap, superuserUrl } from '../../stack/endpoints';
import { runtimeEnvironment, SERVICE_NODE_FLAGS } from '../../stack/service-env';
import { findFreePort, isPortFree, isProcessAlive } from '../../infra/ports';
import { instanceIndex, instanceNames, serviceOfInstance } from '../../stack/replicas';
import { sendGatewayRoutes } from '../gateway-routes';
import { RotatingLogWriter } from './log-files';
import { writeState, type StackState, type TargetState } from './state';
import { sleep } from '../../core/sleep';

export interface InfrastructureHandle {
  pid: number;
  stop(): Promise<void>;
}

/** What the supervisor does to the outside world; tests and other runtimes can supply their own. */
export interface SupervisorDeps {
  startKafka(project: Project, logFile: string): Promise<InfrastructureHandle>;
  startPostgres(project: Project, secrets: StackSecrets, logFile: string): Promise<InfrastructureHandle>;
  /** Creates or converges each service's own PostgreSQL role (src/infra/postgres/roles.ts). */
  provisionDatabaseRoles(project: Project, secrets: StackSecrets): Promise<void>;
  createTopics(project: Project, topics: Array<{ topic: string; partitions: number }>): Promise<void>;
  fetchHealth(url: string): Promise<HealthAnswer>;
  nodePath: string;
  now(): number;
  /** Where services export spans (the supervisor's trace receiver, or the user's collector). */
  otlpEndpoint?: string;
  /** otlpEndpoint is the user's collector: services send it no stack token. */
  otlpIsExternal?: boolean;
  /** Starts a service's process; node:child_process spawn unless a test supplies a fake child. */
  spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** Whether a service's port can be bound; a real bind unless a test decides. */
  isPortFree?: (port: number) => Promise<boolean>;
}

export interface HealthAnswer extends HealthSummary {
  httpStatus: number;
}

interface Target {
  state: TargetState;
  manifest?: ServiceManifest;
  child?: ChildProcess;
  infrastructure?: InfrastructureHandle;
  log: RotatingLogWriter;
  recentLines: string[];
  stopping: boolean;
  restartTimer?: NodeJS.Timeout;
  /** A new version is starting beside the running one: its exit is a failed start, not a crash. */
  replacing?: boolean;
  backoffAttempt: number;
  healthySince?: number;
}

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A service healthy this long is considered recovered: its backoff starts over. */
const STABLE_AFTER_MS = 30_000;
const HEALTH_INTERVAL_MS = 1_000;
const RECENT_LINES = 40;
export { NODE_FLAGS } from './node-flags';

/**
 * MSCTL_SERVICE_NODE_OPTIONS reaches every service as its NODE_OPTIONS (e.g. `--cpu-prof
 * --cpu-prof-dir=/tmp/prof` to profile them, as `npm run bench:profile` does); msctl's own
 * NODE_OPTIONS stays msctl's.
 */
export function serviceNodeOptions(env: NodeJS.ProcessEnv): { NODE_OPTIONS?: string } {
  const options = env.MSCTL_SERVICE_NODE_OPTIONS?.trim();
  return options ? { NODE_OPTIONS: options } : {};
}

/**
 * msctl's flags for a service's Node, less any the user's MSCTL_SERVICE_NODE_OPTIONS sets: a
 * flag on the command line wins over the same one in NODE_OPTIONS, so ours would silently undo
 * theirs (`--max-semi-space-size=64`).
 */
export function serviceNodeFlags(env: NodeJS.ProcessEnv): string[] {
  // `--no-expose-gc` names the same flag as `--expose-gc`.
  const own = (env.MSCTL_SERVICE_NODE_OPTIONS ?? '').split(/\s+/).map((option) => option.split('=')[0]!.replace(/^--no-/, '--'));
  return SERVICE_NODE_FLAGS.filter((flag) => !own.includes(flag.split('=')[0]!));
}

/** What a service's process takes from msctl's own environment, besides its own (`msctl exec` too). */
export const inheritedEnvironment = (env: NodeJS.ProcessEnv): Record<string, string> => ({ PATH: env.PATH ?? '', HOME: env.HOME ?? '', TZ: env.TZ ?? '', ...serviceNodeOptions(env) });

/**
 * The environment of a service instance on the local runtime: the supervisor starts it with this,
 * and `msctl env` / `msctl exec` (LocalRuntime.environment) show and use the same.
 */
export function localServiceEnvironment(
  project: Project,
  manifest: ServiceManifest,
  secrets: StackSecrets,
  instance: { port: number; urls: ReadonlyMap<string, string[]>; otlpEndpoint?: string | undefined; otlpIsExternal?: boolean | undefined },
): Record<string, string> {
  return runtimeEnvironment(
    project,
    manifest,
    {
      kafkaBootstrap: kafkaBootstrap(project),
      postgresUrl: superuserUrl(project, secrets),
      databaseUrl: (service) => serviceDatabaseUrl(superuserUrl(project, secrets), service, secrets),
      serviceUrls: (service) => instance.urls.get(service) ?? [`http://127.0.0.1:${manifestOf(project, service)?.port ?? 0}`],
      otlpEndpoint: instance.otlpEndpoint,
      otlpIsExternal: instance.otlpIsExternal,
    },
    secrets,
    { port: instance.port },
  );
}

export class Supervisor {
  readonly bus = new ProgressBus();
  private readonly targets = new Map<string, Target>();
  private readonly startedAt = new Date().toISOString();
  private healthTimer: NodeJS.Timeout | undefined;
  private stateWrite: Promise<void> = Promise.resolve();
  private stateDirty = false;
  /** The targets as last written: a health poll that changed nothing rewrites nothing. */
  private writtenTargets = '';
  private queue: Promise<unknown> = Promise.resolve();
  private shuttingDown = false;
  /** Instances per service, as last asked for (up or scale). */
  private replicas: Record<string, number> = {};
  /** The services' database roles, provisioned once per start of PostgreSQL. */
  private databaseRoles: Promise<void> | undefined;

  constructor(
    private readonly project: Project,
    private readonly secrets: StackSecrets,
    private readonly deps: SupervisorDeps,
    private readonly socket: string,
  ) {}

  get logsDir(): string {
    return join(this.project.stateDir, 'logs');
  }

  start(): void {
    this.healthTimer = setInterval(() => void this.pollHealth(), HEALTH_INTERVAL_MS);
    this.saveState();
  }

  /** Operations run one at a time, in the order they were asked for. */
  enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.queue.then(operation, operation);
    this.queue = next.catch(() => undefined);
    return next;
  }

  snapshot(): StackState {
    return {
      version: 1,
      runtime: 'local',
      project: this.project.root,
      supervisor: { pid: process.pid, startedAt: this.startedAt, socket: this.socket, ...(this.deps.otlpEndpoint ? { otlpEndpoint: this.deps.otlpEndpoint } : {}) },
      updatedAt: new Date(this.deps.now()).toISOString(),
      targets: Object.fromEntries([...this.targets].map(([name, target]) => [name, target.state])),
    };
  }

  /**
   * Executes an up plan, level by level, each gated on health: a level's starts run together.
   * A service with several replicas starts as that many instances; a `scale` step starts and
   * stops the instances it names; a `recreate` step stops and starts each live instance.
   */
  async up(plan: UpPlan, timeoutSeconds: number, replicas: Record<string, number> = {}): Promise<void> {
    this.replicas = { ...this.replicas, ...replicas };
    for (const level of [...new Set(plan.steps.map((step) => step.level))].sort((a, b) => a - b)) {
      const steps = plan.steps.filter((step) => step.level === level);
      // A consumer that grows needs a partition per instance, before its new instances join the group.
      const growing = steps.some((step) => step.action === 'scale' && (step.instances?.start.length ?? 0) > 0 && (manifestOf(this.project, step.target)?.consumes.length ?? 0) > 0);
      if (growing && this.targets.get('kafka')?.state.phase === 'healthy') await this.deps.createTopics(this.project, stackTopics(this.project.manifests, 3, this.replicas));
      await Promise.all(steps.flatMap((step) => this.instancesToStart(step).map((name) => this.startStep(step, name, timeoutSeconds))));
      for (const step of steps) {
        for (const name of step.instances?.stop ?? []) {
          await this.stopTarget(name);
          this.forget(name);
        }
      }
    }
  }

  /** The instances a step starts (or, re-created, starts again). */
  private instancesToStart(step: PlanStep): string[] {
    if (step.action === 'scale') return step.instances?.start ?? [];
    const names = step.kind === 'service' ? instanceNames(step.target, this.replicasOf(step.target)) : [step.target];
    if (step.action === 'recreate') return names;
    return names.filter((name) => !this.isAlive(this.targets.get(name)));
  }

  private async startStep(step: PlanStep, name: string, timeoutSeconds: number): Promise<void> {
    if (step.action === 'recreate' && this.isAlive(this.targets.get(name))) await this.stopTarget(name);
    await this.startTarget(name, timeoutSeconds);
  }

  private replicasOf(service: string): number {
    return this.replicas[service] ?? manifestOf(this.project, service)?.replicas ?? 1;
  }

  private forget(name: string): void {
    const target = this.targets.get(name);
    if (!target) return;
    void target.log.close();
    this.targets.delete(name);
    this.saveState();
  }

  /** Chaos: stops a running target on purpose; it stays stopped (no restart) until `resume`. */
  async hold(name: string): Promise<void> {
    const target = this.targets.get(name);
    if (!target || !this.isAlive(target)) {
      throw new MsctlError('NOT_RUNNING', `${name} is not running`, `start it with \`msctl up ${serviceOfInstance(name)}\``);
    }
    await this.stopTarget(name);
  }

  /** Starts again a target stopped by `hold`. */
  async resume(name: string, timeoutSeconds: number): Promise<void> {
    const target = this.targets.get(name);
    if (!target) throw new MsctlError('NOT_RUNNING', `${name} is not part of the running stack`, 'see msctl status');
    if (this.isAlive(target)) return;
    await this.startTarget(name, timeoutSeconds);
  }

  /**
   * A service's instances are replaced one at a time, each without a request failing (see
   * `replace`). The gateway and the infrastructure stop and start again: the gateway owns its
   * public port, which two processes cannot share.
   */
  async restart(name: string, timeoutSeconds: number): Promise<void> {
    const target = this.targets.get(name);
    if (!target || !this.isAlive(target)) {
      throw new MsctlError('NOT_RUNNING', `${name} is not running`, `start it with \`msctl up ${name}\``);
    }
    await this.refreshManifests();
    if (target.manifest && !target.manifest.gateway && target.child) {
      const instances = name === serviceOfInstance(name) ? instanceNames(name, this.replicasOf(name)) : [name];
      for (const instance of instances) {
        const each = this.targets.get(instance);
        if (each?.child && this.isAlive(each)) await this.replace(each, timeoutSeconds);
      }
      return;
    }
    await this.stopTarget(name);
    target.state.restarts += 1;
    await this.startTarget(name, timeoutSeconds);
  }

  /**
   * A service.json saved since the stack started (`msctl dev`): from this restart on, its port,
   * routes and settings are the new ones, and the gateways' routing tables follow.
   */
  private async refreshManifests(): Promise<void> {
    // The services the stack runs, each as its service.json now says; one whose file is gone stays as it was.
    const saved = await loadManifests(this.project.servicesDir);
    const manifests = this.project.manifests.map((current) => saved.find((manifest) => manifest.name === current.name) ?? current);
    this.project.manifests = manifests;
    this.project.graph = new DependencyGraph(stackNodes(manifests));
    for (const target of this.targets.values()) {
      if (target.manifest) target.manifest = manifestOf(this.project, serviceOfInstance(target.state.name)) ?? target.manifest;
    }
  }

  /**
   * Blue-green: the new process starts beside the running one, on another port, and must be
   * healthy first; then every gateway routes to it (answering once the old one has answered
   * what it had in flight), and the old one drains and stops. A consumer's group rebalances to
   * the new member, and the old one commits its offsets as it leaves. A new version that does
   * not become healthy is stopped, and the running one keeps serving.
   */
  private async replace(target: Target, timeoutSeconds: number): Promise<void> {
    const manifest = target.manifest!;
    const running = target.child!;
    const { port, url, pid, startedAt, commandMarker } = target.state;
    target.state.port = port !== manifest.port && (await (this.deps.isPortFree ?? isPortFree)(manifest.port)) ? manifest.port : await findFreePort();
    target.replacing = true;
    let exited: string | undefined;
    try {
      await this.spawnService(target);
      target.child?.once('exit', (code, signal) => {
        exited = `it exited (${signal ?? `code ${code}`})`;
      });
      // Polled often: the old instance serves meanwhile, and a reload waits on this.
      await this.waitHealthy(target, (manifest.startTimeoutSeconds ?? timeoutSeconds) * 1000, () => exited, 50);
    } catch (error) {
      const candidate = target.child;
      target.child = running;
      Object.assign(target.state, { port, url, pid, startedAt, commandMarker });
      if (candidate && candidate !== running) candidate.kill('SIGKILL');
      this.setPhase(target, 'healthy', 'the new version did not become healthy; the running one keeps serving');
      const reason = error instanceof MsctlError ? error.message : (error as Error).message;
      throw new MsctlError('UNHEALTHY', `${reason}; ${target.state.name} keeps running its previous version`, this.lastLinesHint(target));
    } finally {
      target.replacing = false;
    }
    await this.routeGateways();
    await terminate(running);
    // How the old process ended, as for any stop (its exit is no longer the target's child's).
    target.state.lastExit = { code: running.exitCode, signal: running.signalCode, at: new Date(this.deps.now()).toISOString() };
    target.state.restarts += 1;
    this.saveState();
  }

  /**
   * Tells each running gateway where every instance listens now. A gateway that cannot be told
   * (it is starting, say) is restarted, so that it reads its routes afresh.
   */
  private async routeGateways(): Promise<void> {
    const gateways = [...this.targets.values()].filter((target) => target.manifest?.gateway && target.child && target.state.phase === 'healthy');
    if (gateways.length === 0) return;
    const urls = new Map<string, string[]>();
    for (const manifest of this.project.manifests) urls.set(manifest.name, await this.instanceUrls(manifest.name));
    const routes = gatewayRoutes(this.project.manifests, (service) => urls.get(service) ?? []);
    for (const gateway of gateways) {
      try {
        await sendGatewayRoutes(gateway.state.url!, routes, this.secrets.internalAuth.privateKey);
      } catch (error) {
        this.onLine(gateway, `msctl: cannot send the new routing table (${(error as Error).message}); restarting the gateway`);
        await this.stopTarget(gateway.state.name);
        await this.startTarget(gateway.state.name, 30);
      }
    }
  }

  /** Stops everything, dependents first: level by level in reverse start order, each level together. */
  async down(): Promise<void> {
    this.shuttingDown = true;
    const names = [...this.targets.keys()];
    const known = new Set(names.map(serviceOfInstance).filter((name) => this.project.graph.names.includes(name)));
    const unknown = names.filter((name) => !known.has(serviceOfInstance(name)));
    await Promise.all(unknown.map((name) => this.stopTarget(name)));
    for (const level of this.project.graph.levels(known).reverse()) {
      await Promise.all(names.filter((name) => level.includes(serviceOfInstance(name))).map((name) => this.stopTarget(name)));
    }
    clearInterval(this.healthTimer);
    for (const target of this.targets.values()) await target.log.close();
  }

  private isAlive(target: Target | undefined): boolean {
    return target !== undefined && !['stopped', 'failed', 'stopping', 'planned'].includes(target.state.phase);
  }

  private target(name: string): Target {
    let target = this.targets.get(name);
    if (!target) {
      const manifest = manifestOf(this.project, serviceOfInstance(name));
      target = {
        state: {
          name,
          kind: manifest ? 'service' : 'infrastructure',
          phase: 'planned',
          restarts: 0,
          health: 'unknown',
          checks: {},
          circuits: {},
          problems: {},
        },
        manifest,
        log: new RotatingLogWriter({ dir: this.logsDir, name }),
        recentLines: [],
        stopping: false,
        backoffAttempt: 0,
      };
      this.targets.set(name, target);
    }
    return target;
  }

  private setPhase(target: Target, phase: TargetPhase, detail?: string): void {
    const changed = target.state.phase !== phase || target.state.detail !== detail;
    target.state.phase = phase;
    target.state.detail = detail;
    if (changed) this.bus.emit({ type: 'target', target: target.state.name, phase, ...(detail ? { detail } : {}) });
    this.saveState();
  }

  private async startTarget(name: string, timeoutSeconds: number): Promise<void> {
    const target = this.target(name);
    target.stopping = false;
    if (name === 'kafka') return this.startKafka(target);
    if (name === 'postgres') return this.startPostgres(target);
    if (!target.manifest) throw new MsctlError('USAGE', `no service named ${name}`, 'see `msctl status` for the known ones');
    if (target.manifest.needs.includes('postgres')) {
      await this.provisionDatabaseRoles().catch((error: unknown) => {
        this.setPhase(target, 'failed', (error as Error).message.split('\n')[0]);
        throw error;
      });
    }
    await this.spawnService(target);
    await this.waitHealthy(target, (target.manifest.startTimeoutSeconds ?? timeoutSeconds) * 1000);
  }

  private async startKafka(target: Target): Promise<void> {
    this.setPhase(target, 'starting', `127.0.0.1:${this.project.infrastructure.kafkaPort}`);
    try {
      target.infrastructure = await this.deps.startKafka(this.project, join(this.logsDir, 'kafka.log'));
    } catch (error) {
      this.setPhase(target, 'failed', (error as Error).message.split('\n')[0]);
      throw error;
    }
    this.markInfrastructureUp(target, this.project.infrastructure.kafkaPort, `kafka.Kafka`);
    const topics = stackTopics(this.project.manifests, 3, this.replicas);
    this.setPhase(target, 'waiting', `creating ${topics.length} topics`);
    await this.deps.createTopics(this.project, topics);
    this.setPhase(target, 'healthy', `${kafkaBootstrap(this.project)}, ${topics.length} topics`);
  }

  private async startPostgres(target: Target): Promise<void> {
    this.setPhase(target, 'starting', `127.0.0.1:${this.project.infrastructure.postgresPort}`);
    try {
      target.infrastructure = await this.deps.startPostgres(this.project, this.secrets, join(this.logsDir, 'postgres.log'));
    } catch (error) {
      this.setPhase(target, 'failed', (error as Error).message.split('\n')[0]);
      throw error;
    }
    this.markInfrastructureUp(target, this.project.infrastructure.postgresPort, join(this.project.stateDir, 'data', 'postgres'));
    // A new server (its data removed, say) has none of the roles yet.
    this.databaseRoles = undefined;
    this.setPhase(target, 'healthy', `127.0.0.1:${this.project.infrastructure.postgresPort}`);
  }

  /**
   * Before a service connects: each connects as its own role, never as the superuser. Once per
   * start of PostgreSQL, and again after a failure (which is the service's: PostgreSQL is up).
   */
  private provisionDatabaseRoles(): Promise<void> {
    this.databaseRoles ??= this.deps.provisionDatabaseRoles(this.project, this.secrets).catch((error: unknown) => {
      this.databaseRoles = undefined;
      throw error;
    });
    return this.databaseRoles;
  }

  private markInfrastructureUp(target: Target, port: number, marker: string): void {
    target.state.pid = target.infrastructure!.pid;
    target.state.port = port;
    target.state.startedAt = new Date(this.deps.now()).toISOString();
    target.state.health = 'pass';
    target.state.commandMarker = marker;
  }

  /**
   * Instance 1 starts on the manifest's port; the others on free ports. An instance keeps its
   * port across crashes; a restart moves it (see `replace`).
   */
  private async instancePort(target: Target): Promise<number> {
    target.state.port ??= instanceIndex(target.state.name) === 1 ? target.manifest!.port : await findFreePort();
    return target.state.port;
  }

  /** The URLs of every instance of `service` (what the gateway balances across). */
  private async instanceUrls(service: string): Promise<string[]> {
    const urls: string[] = [];
    for (const name of instanceNames(service, this.replicasOf(service))) {
      urls.push(`http://127.0.0.1:${await this.instancePort(this.target(name))}`);
    }
    return urls;
  }

  private async spawnService(target: Target): Promise<void> {
    const manifest = target.manifest!;
    const port = await this.instancePort(target);
    if (!(await (this.deps.isPortFree ?? isPortFree)(port))) {
      const message = `port ${port} for ${target.state.name} is taken by another process`;
      this.setPhase(target, 'failed', message);
      throw new MsctlError('PORT_IN_USE', message, `stop what listens there (ss -ltnp 'sport = :${port}'), or change "port" in services/${manifest.name}/service.json`);
    }
    const urls = new Map<string, string[]>();
    if (manifest.gateway) {
      for (const other of this.project.manifests) urls.set(other.name, await this.instanceUrls(other.name));
      // What its routing table holds: observe compares it with the counts wanted now.
      target.state.upstreams = Object.fromEntries(this.project.manifests.filter((other) => other.name !== manifest.name && other.routes.length > 0).map((other) => [other.name, this.replicasOf(other.name)]));
    }
    const env = localServiceEnvironment(this.project, manifest, this.secrets, { port, urls, otlpEndpoint: this.deps.otlpEndpoint, otlpIsExternal: this.deps.otlpIsExternal });
    const bundle = serviceBundle(manifest);
    const child = (this.deps.spawn ?? spawn)(this.deps.nodePath, [...serviceNodeFlags(process.env), bundle], {
      cwd: manifest.dir,
      env: { ...inheritedEnvironment(process.env), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    target.child = child;
    target.state.pid = child.pid;
    target.state.port = port;
    target.state.url = `http://127.0.0.1:${port}`;
    target.state.startedAt = new Date(this.deps.now()).toISOString();
    target.state.commandMarker = bundle;
    target.state.health = 'unknown';
    target.healthySince = undefined;
    this.setPhase(target, 'starting', `pid ${child.pid}, port ${port}`);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      // A chunk's lines are written to the log at once (one write for a busy service's burst).
      const source = {};
      stream.on('data', (chunk: Buffer) => this.onLines(target, target.log.write(chunk, source)));
      stream.once('end', () => {
        const rest = target.log.flushSource(source);
        if (rest !== undefined) this.onLines(target, [rest]);
      });
    }
    child.once('exit', (code, signal) => this.onExit(target, child, code, signal));
    child.once('error', (error) => this.onLine(target, `msctl: cannot start ${manifest.name}: ${error.message}`));
  }

  private onLine(target: Target, line: string): void {
    target.log.writeLine(line);
    this.onLines(target, [line]);
  }

  /** Lines already in the log file: kept for a crash report, and passed to followers. */
  private onLines(target: Target, lines: string[]): void {
    for (const line of lines) {
      target.recentLines.push(line);
      this.bus.emit({ type: 'log', target: target.state.name, line });
    }
    if (target.recentLines.length > RECENT_LINES) target.recentLines.splice(0, target.recentLines.length - RECENT_LINES);
  }

  private onExit(target: Target, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (target.child !== child) return;
    target.child = undefined;
    target.state.pid = undefined;
    target.state.lastExit = { code, signal, at: new Date(this.deps.now()).toISOString() };
    if (target.stopping || this.shuttingDown || target.replacing) return;
    // A crash: restart with exponential backoff, counted.
    if (target.healthySince !== undefined && this.deps.now() - target.healthySince >= STABLE_AFTER_MS) target.backoffAttempt = 0;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** target.backoffAttempt);
    target.backoffAttempt += 1;
    target.state.restarts += 1;
    target.state.health = 'fail';
    this.setPhase(target, 'restarting', `exited (${signal ?? `code ${code}`}); restart ${target.state.restarts} in ${(delay / 1000).toFixed(1)} s`);
    target.restartTimer = setTimeout(() => {
      target.restartTimer = undefined;
      if (target.stopping || this.shuttingDown) return;
      this.spawnService(target).catch((error: unknown) => this.setPhase(target, 'failed', (error as Error).message));
    }, delay);
  }

  /** `gone` says why waiting is pointless (the process exited), or nothing. */
  private async waitHealthy(target: Target, timeoutMs: number, gone: () => string | undefined = () => undefined, pollMs = 200): Promise<void> {
    const deadline = this.deps.now() + timeoutMs;
    let last: HealthAnswer | undefined;
    for (;;) {
      if (target.state.phase === 'failed') throw new MsctlError('UNHEALTHY', `${target.state.name} failed: ${target.state.detail ?? ''}`, this.lastLinesHint(target));
      const why = gone();
      if (why) throw new MsctlError('UNHEALTHY', `${target.state.name} did not become healthy: ${why}`, this.lastLinesHint(target));
      if (target.child) {
        last = await this.deps.fetchHealth(`${target.state.url}${target.manifest!.healthPath}`).catch(() => undefined);
        if (last && last.httpStatus === 200) {
          this.applyHealth(target, last);
          return;
        }
      }
      if (this.deps.now() > deadline) {
        const failing = last ? Object.entries(last.checks).filter(([, status]) => status === 'fail').map(([check]) => check) : [];
        const waitingOn = failing.length > 0 ? `; failing checks: ${failing.join(', ')}` : target.manifest!.needs.length > 0 ? `; it needs ${target.manifest!.needs.join(', ')}` : '';
        const message = `${target.state.name} did not become healthy within ${Math.round(timeoutMs / 1000)} s${waitingOn}`;
        this.setPhase(target, 'failed', message);
        throw new MsctlError('UNHEALTHY', message, this.lastLinesHint(target));
      }
      await sleep(pollMs);
    }
  }

  private lastLinesHint(target: Target): string {
    // The hint reaches the user's terminal: the service's escape sequences must not.
    const lines = target.recentLines.slice(-10).map((line) => terminalSafe(line));
    const tail = lines.length > 0 ? `its last log lines:\n${lines.map((line) => `    ${line}`).join('\n')}\n` : '';
    return `${tail}full log: msctl logs ${target.state.name}`;
  }

  private applyHealth(target: Target, answer: HealthAnswer): void {
    target.state.health = answer.status;
    target.state.checks = answer.checks;
    target.state.circuits = answer.circuits;
    target.state.problems = answer.problems;
    if (answer.httpStatus === 200) {
      target.healthySince ??= this.deps.now();
      if (target.state.phase !== 'healthy') this.setPhase(target, 'healthy', answer.status === 'warn' ? 'degraded' : undefined);
      else this.saveState();
    } else if (target.state.phase === 'healthy') {
      target.healthySince = undefined;
      this.setPhase(target, 'unhealthy', Object.entries(answer.checks).filter(([, s]) => s === 'fail').map(([c]) => c).join(', ') || `health ${answer.httpStatus}`);
    }
  }

  private async pollHealth(): Promise<void> {
    await Promise.all(
      [...this.targets.values()].map(async (target) => {
        if (target.stopping) return;
        if (target.infrastructure) {
          if (!isProcessAlive(target.infrastructure.pid) && target.state.phase !== 'failed') {
            target.state.health = 'fail';
            this.setPhase(target, 'failed', `exited unexpectedly; see msctl logs ${target.state.name}`);
          }
          return;
        }
        if (!target.child || !['healthy', 'unhealthy'].includes(target.state.phase) && !(target.state.phase === 'starting' && target.state.restarts > 0)) return;
        const answer = await this.deps.fetchHealth(`${target.state.url}${target.manifest!.healthPath}`).catch(
          (): HealthAnswer => ({ httpStatus: 0, status: 'fail', checks: {}, circuits: {}, problems: {} }),
        );
        if (target.child) this.applyHealth(target, answer);
      }),
    );
  }

  private async stopTarget(name: string): Promise<void> {
    const target = this.targets.get(name);
    if (!target) return;
    target.stopping = true;
    clearTimeout(target.restartTimer);
    if (target.state.phase === 'stopped') return;
    this.setPhase(target, 'stopping');
    if (target.infrastructure) {
      await target.infrastructure.stop();
      target.infrastructure = undefined;
    } else if (target.child) {
      await terminate(target.child);
    }
    target.state.pid = undefined;
    target.state.health = 'unknown';
    target.state.checks = {};
    target.state.circuits = {};
    target.state.problems = {};
    this.setPhase(target, 'stopped');
  }

  /** Coalesces state writes: at most one in flight, the latest state always written last. */
  private saveState(): void {
    if (this.stateDirty) return;
    this.stateDirty = true;
    this.stateWrite = this.stateWrite.then(async () => {
      this.stateDirty = false;
      const state = this.snapshot();
      const targets = JSON.stringify(state.targets);
      if (targets === this.writtenTargets) return;
      await writeState(this.project.stateDir, state).then(
        () => {
          this.writtenTargets = targets;
        },
        () => undefined,
      );
    });
  }

  async flushState(): Promise<void> {
    await this.stateWrite;
  }

  async removeState(): Promise<void> {
    await this.stateWrite;
    await rm(join(this.project.stateDir, 'state.json'), { force: true });
  }
}

/** SIGTERM, and SIGKILL if the process has not exited 15 s later: a service drains in less. */
async function terminate(child: ChildProcess): Promise<void> {
  if (typeof child.exitCode === 'number' || typeof child.signalCode === 'string') return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}
