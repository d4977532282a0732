/**
 * The CLI side of the local runtime: observes the stack (state file + supervisor socket),
 * launches the detached supervisor when needed, and drives it through its control channel.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MsctlError, isMsctlError } from '../../core/errors';
import type { ProgressEvent, ProgressSink } from '../../core/events';
import { terminatePid, waitForPortFree } from '../../infra/ports';
import { planDown, stepsToRun, type ObservedTarget, type UpPlan } from '../../stack/plan';
import { ensureStateDir, manifestOf, type Project } from '../../stack/project';
import { desiredReplicas, instanceIndex, instanceNames, serviceOfInstance } from '../../stack/replicas';
import { ensureSecrets } from '../../stack/secrets';
import { SERVICE_ALLOCATOR_ENV, serviceOfTarget } from '../../stack/service-env';
import { buildStale } from '../../stack/build';
import { isOurProcess, processTree, runAttached, signalAll } from '../processes';
import { DEFAULT_TIMEOUT_SECONDS, type Breakage, type ChaosAction, type DownResult, type ExecRequest, type LogRequest, type LogSink, type Runtime, type RuntimeObservation, type RuntimeOpenOptions, type RuntimeUpOptions } from '../runtime';
import type { StackStatus, TargetStatus } from '../types';
import { formatSeconds } from '../../core/duration';
import { controlRequest, pingSupervisor, streamEvents } from './control';
import { readLocalLogs } from './logs';
import { observe, SUPERVISOR_MARKER, type Observation } from './observe';
import { localStatus } from './status';
import { readState, socketPath, stateFile, type TargetState } from './state';
import { NODE_FLAGS } from './node-flags';
import { inheritedEnvironment, localServiceEnvironment } from './supervisor';
import { sleep } from '../../core/sleep';

/** After a kill -9 of the supervisor or a reboot: stops what is still ours, forgets the rest. */
export async function cleanUpStale(project: Project, observation: Observation, sink: ProgressSink): Promise<void> {
  if (observation.supervisor !== 'stale' || !observation.state) return;
  const survivors = Object.values(observation.state.targets).filter((t) => isOurProcess(t.pid, t.commandMarker));
  sink.emit({
    type: 'message',
    level: 'warn',
    text:
      survivors.length > 0
        ? `the previous supervisor is gone (killed, or the machine restarted); stopping ${survivors.length} process(es) it left: ${survivors.map((t) => `${t.name} (${t.pid})`).join(', ')}`
        : 'the previous supervisor is gone (killed, or the machine restarted) and left nothing running; starting afresh',
  });
  const order = planDown(project.graph, new Map(survivors.map((t) => [t.name, { name: t.name, phase: t.phase }])));
  for (const name of order) {
    const target = survivors.find((t) => t.name === name)!;
    sink.emit({ type: 'target', target: name, phase: 'stopping', detail: `pid ${target.pid}` });
    await terminatePid(target.pid!, 'SIGTERM', 15_000);
    sink.emit({ type: 'target', target: name, phase: 'stopped' });
  }
  await rm(stateFile(project.stateDir), { force: true });
  await rm(socketPath(project.stateDir), { force: true });
}

/** Where msctl's built entry points are (supervisor.js): beside this module once bundled, unless told. */
const defaultScriptsDir = () => dirname(fileURLToPath(import.meta.url));

/** Starts the detached supervisor and waits until it answers. */
export async function launchSupervisor(project: Project, scriptsDir = defaultScriptsDir()): Promise<void> {
  ensureStateDir(project.stateDir);
  await mkdir(join(project.stateDir, 'logs'), { recursive: true });
  await ensureSecrets(project.stateDir);
  const script = join(scriptsDir, 'supervisor.js');
  if (!existsSync(script)) throw new MsctlError('INTERNAL', `msctl is not built: ${script} is missing`, 'run `npm run build`');
  const logFile = join(project.stateDir, 'logs', 'supervisor.log');
  const out = openSync(logFile, 'a');
  const env = { ...process.env, ...SERVICE_ALLOCATOR_ENV };
  const child = spawn(process.execPath, [...NODE_FLAGS, script, project.root], { detached: true, stdio: ['ignore', out, out], cwd: project.root, env });
  closeSync(out);
  child.unref();
  const socket = socketPath(project.stateDir);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await pingSupervisor(socket)) return;
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  const log = await readFile(logFile, 'utf8').catch(() => '');
  throw new MsctlError('INTERNAL', `the supervisor did not start:\n${log.split('\n').slice(-15).join('\n')}`, `see ${logFile}`);
}

/**
 * Sends an operation to the supervisor and relays its events to `sink` until that
 * operation is done; throws with the supervisor's message when it failed.
 */
async function operate(project: Project, path: string, body: unknown, sink: ProgressSink, options: { logs?: boolean; signal?: AbortSignal; onSeq?: (seq: number) => void } = {}): Promise<void> {
  const socket = socketPath(project.stateDir);
  let operation: string | undefined;
  let ready: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => (ready = resolve));
  const pending: ProgressEvent[] = [];
  // Ends the event stream when the supervisor refuses the request: no `done` will come.
  const refused = new AbortController();
  const finished = streamEvents(
    socket,
    (event) => {
      if (event.type === 'done') {
        if (operation === undefined) pending.push(event);
        return event.operation === operation;
      }
      sink.emit(event);
      return false;
    },
    { ...options, signal: options.signal ? AbortSignal.any([options.signal, refused.signal]) : refused.signal, onConnected: ready },
  );
  await connected;
  const response = await controlRequest<{ operation?: string; error?: string }>(socket, 'POST', path, body);
  if (response.status !== 202 || !response.body.operation) {
    refused.abort();
    await finished;
    throw new MsctlError(response.status === 400 ? 'USAGE' : 'INTERNAL', `the supervisor refused ${path}: ${response.body.error ?? `status ${response.status}`}`, 'see `msctl status`');
  }
  operation = response.body.operation;
  const done = pending.find((event) => event.type === 'done' && event.operation === operation) ?? (await finished);
  if (!done) {
    if (options.signal?.aborted) throw new MsctlError('INTERRUPTED', 'interrupted');
    throw new MsctlError('INTERNAL', 'lost the connection to the supervisor', 'check `msctl status` and `msctl logs`');
  }
  if (done.type === 'done' && !done.ok) {
    const [message, ...hint] = done.text.split('\nhint: ');
    throw new MsctlError('UNHEALTHY', message ?? done.text, hint.join('\nhint: ') || undefined);
  }
}

export async function upLocal(
  project: Project,
  plan: UpPlan,
  options: { timeoutSeconds: number; signal?: AbortSignal; logs?: boolean; scriptsDir?: string; onSeq?: (seq: number) => void },
  sink: ProgressSink,
): Promise<void> {
  const socket = socketPath(project.stateDir);
  if (!(await pingSupervisor(socket))) await launchSupervisor(project, options.scriptsDir);
  await operate(project, '/up', { plan, timeoutSeconds: options.timeoutSeconds, replicas: desiredReplicas(project) }, sink, {
    signal: options.signal,
    logs: options.logs ?? false,
    ...(options.onSeq ? { onSeq: options.onSeq } : {}),
  });
}

export async function restartLocal(project: Project, target: string, timeoutSeconds: number, sink: ProgressSink): Promise<void> {
  const socket = socketPath(project.stateDir);
  if (!(await pingSupervisor(socket))) throw new MsctlError('NOT_RUNNING', 'the stack is not running', 'start it with `msctl up`');
  await operate(project, '/restart', { target, timeoutSeconds }, sink);
}

/**
 * Follows every log line and state change until the signal aborts; with `after`, from the event
 * after that one (where the stream of `up` ended), so that nothing said in between is lost.
 */
export async function attachLocal(project: Project, sink: ProgressSink, signal: AbortSignal, after?: number): Promise<void> {
  await streamEvents(socketPath(project.stateDir), (event) => {
    sink.emit(event);
    return false;
  }, { logs: true, signal, ...(after !== undefined ? { after } : {}) });
}

export async function downLocal(project: Project, options: { volumes: boolean }, sink: ProgressSink): Promise<DownResult> {
  let observation: Observation;
  try {
    observation = await observe(project);
  } catch (error) {
    if (!isMsctlError(error) || error.code !== 'STATE_CORRUPT') throw error;
    // Nothing in it can be trusted: forget it. Processes it named cannot be found any more.
    sink.emit({ type: 'message', level: 'warn', text: `${error.message}; removing it (data is kept)` });
    await rm(stateFile(project.stateDir), { force: true });
    observation = { supervisor: 'none', state: undefined, targets: new Map() };
  }
  const stopped = [...observation.targets.values()].filter((t) => t.phase !== 'stopped').map((t) => t.name);
  if (observation.supervisor === 'running') {
    const pid = observation.state!.supervisor.pid;
    await operate(project, '/down', {}, sink);
    const deadline = Date.now() + 10_000;
    while (isOurProcess(pid, SUPERVISOR_MARKER) && Date.now() < deadline) await sleep(50);
  } else if (observation.supervisor === 'stale') {
    await cleanUpStale(project, observation, sink);
  }
  const ports = [project.infrastructure.kafkaPort, project.infrastructure.kafkaControllerPort, project.infrastructure.postgresPort, ...project.manifests.map((m) => m.port)];
  await Promise.all(ports.map((port) => waitForPortFree(port, 5_000)));
  let dataRemoved = false;
  if (options.volumes) {
    await rm(join(project.stateDir, 'data'), { recursive: true, force: true });
    dataRemoved = true;
  }
  return { stopped, dataRemoved };
}

export type { TargetState };

/** Chaos on the local runtime: the supervisor stops a target and keeps it stopped, then starts it again. */
export async function holdLocal(project: Project, target: string, sink: ProgressSink): Promise<void> {
  if (!(await pingSupervisor(socketPath(project.stateDir)))) throw new MsctlError('NOT_RUNNING', 'the stack is not running', 'start it with `msctl up`');
  await operate(project, '/hold', { target }, sink);
}

export async function resumeLocal(project: Project, target: string, sink: ProgressSink): Promise<void> {
  await operate(project, '/resume', { target, timeoutSeconds: 120 }, sink);
}

/** The local runtime behind the Runtime interface: every operation goes to the supervisor. */
export class LocalRuntime implements Runtime {
  readonly kind = 'local' as const;
  private observation: Observation | undefined;
  /** The number of the last event this runtime's `up` streamed: `attach` goes on from there. */
  private streamEnd: number | undefined;

  constructor(
    private readonly project: Project,
    private readonly options: RuntimeOpenOptions = {},
  ) {}

  async observe(): Promise<RuntimeObservation> {
    this.observation = await observe(this.project);
    if (this.observation.supervisor !== 'stale') return { targets: withOutdatedRoutes(this.project, this.observation) };
    // Its leftovers are stopped before anything starts: the plan starts everything afresh.
    const targets = new Map([...this.observation.targets.keys()].map((name) => [name, { name, phase: 'stopped' as const }]));
    return { targets, note: 'the previous supervisor is gone; its leftovers would be stopped first' };
  }

  async up(plan: UpPlan, options: RuntimeUpOptions, sink: ProgressSink): Promise<void> {
    const observation = this.observation ?? (await observe(this.project));
    await cleanUpStale(this.project, observation, sink);
    if (stepsToRun(plan).length === 0) return;
    await upLocal(
      this.project,
      plan,
      {
        timeoutSeconds: options.timeoutSeconds,
        ...(options.signal ? { signal: options.signal } : {}),
        logs: options.logs ?? false,
        ...(this.options.scriptsDir ? { scriptsDir: this.options.scriptsDir } : {}),
        onSeq: (seq) => (this.streamEnd = seq),
      },
      sink,
    );
  }

  attach(sink: ProgressSink, signal: AbortSignal): Promise<void> {
    return attachLocal(this.project, sink, signal, this.streamEnd);
  }

  down(options: { volumes: boolean }, sink: ProgressSink): Promise<DownResult> {
    return downLocal(this.project, options, sink);
  }

  async restart(target: string, sink: ProgressSink, options: { timeoutSeconds?: number } = {}): Promise<void> {
    const manifest = manifestOf(this.project, serviceOfInstance(target));
    // A restart picks up code changes: rebuild first if the sources changed.
    if (manifest) await buildStale([manifest], this.project.servicesDir, sink);
    await restartLocal(this.project, target, options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, sink);
  }

  status(): Promise<StackStatus> {
    return localStatus(this.project);
  }

  logs(request: LogRequest, sink: LogSink): Promise<void> {
    return readLocalLogs(this.project, request, sink);
  }

  async breakTarget(target: TargetStatus, action: ChaosAction, forMs: number, sink: ProgressSink): Promise<Breakage> {
    const pid = target.pid;
    if (pid === null) throw new MsctlError('NOT_RUNNING', `${target.name} is not running`, 'start it with `msctl up`');
    const resume = async () => {
      await resumeLocal(this.project, target.name, sink);
      return `${target.name} is back`;
    };
    if (action === 'kill') {
      signalAll([pid], 'SIGKILL');
      const killed = `killed ${target.name} (SIGKILL to pid ${pid})`;
      if (target.kind === 'service') return { said: [killed, 'the supervisor restarts it with backoff'], restoredBy: 'runtime' };
      // The supervisor does not restart infrastructure on its own: msctl does, after the duration.
      return { said: [killed], restoredBy: 'msctl', restore: resume };
    }
    if (action === 'pause') {
      const pids = processTree(pid);
      signalAll(pids, 'SIGSTOP');
      return {
        said: [`paused ${target.name} (SIGSTOP to ${pids.length} process${pids.length === 1 ? '' : 'es'}) for ${formatSeconds(forMs)}`],
        restoredBy: 'msctl',
        restore: async () => {
          signalAll(processTree(pid), 'SIGCONT');
          return `${target.name} is back`;
        },
      };
    }
    await holdLocal(this.project, target.name, sink);
    return { said: [`stopped ${target.name} for ${formatSeconds(forMs)}`], restoredBy: 'msctl', restore: resume };
  }

  async traceEndpoint(): Promise<string | undefined> {
    return (await readState(this.project.stateDir))?.supervisor.otlpEndpoint;
  }

  /** As the supervisor starts `target` (localServiceEnvironment), from its state: the ports and trace endpoint it chose. */
  async environment(target: string): Promise<Record<string, string>> {
    const manifest = serviceOfTarget(this.project, target);
    const [secrets, state] = await Promise.all([ensureSecrets(this.project.stateDir), readState(this.project.stateDir)]);
    // The port the supervisor gave the instance (a restart may move it); the manifest's until it ran.
    const portOf = (instance: string) => state?.targets[instance]?.port ?? (instanceIndex(instance) === 1 ? manifestOf(this.project, serviceOfInstance(instance))?.port : undefined);
    const port = portOf(target);
    if (port === undefined) throw new MsctlError('NOT_RUNNING', `${target} is not running`, `start it with \`msctl scale ${manifest.name}=${instanceIndex(target)}\``);
    const replicas = desiredReplicas(this.project);
    const urls = new Map(
      this.project.manifests.map((m) => [m.name, instanceNames(m.name, replicas[m.name] ?? 1).flatMap((instance) => portOf(instance) ?? []).map((p) => `http://127.0.0.1:${p}`)]),
    );
    const otlpEndpoint = state?.supervisor.otlpEndpoint;
    // The supervisor sends no stack token to a collector the user named (OTEL_EXPORTER_OTLP_ENDPOINT).
    const otlpIsExternal = otlpEndpoint !== undefined && otlpEndpoint === process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
    return localServiceEnvironment(this.project, manifest, secrets, { port, urls, otlpEndpoint, otlpIsExternal });
  }

  /** A child process in the service's folder, with what the supervisor would give the service, on msctl's own stdio. */
  async exec(target: string, request: ExecRequest): Promise<number> {
    const manifest = serviceOfTarget(this.project, target);
    const env: Record<string, string> = { ...inheritedEnvironment(process.env), ...(process.env.TERM ? { TERM: process.env.TERM } : {}), ...(await this.environment(target)) };
    const [program, ...args] = request.command;
    if (!program) throw new MsctlError('USAGE', 'no command to run', `e.g. msctl exec ${target} -- node -e 'console.log(process.env.LOG_LEVEL)'`);
    return runAttached(program, args, {
      cwd: manifest.dir,
      env,
      notFound: () => new MsctlError('USAGE', `${program}: command not found`, `install it, or give its full path (PATH is ${env.PATH})`),
    });
  }
}

/**
 * A gateway routes to the instances it was started with: once another count is wanted (msctl
 * scale), its routing table is out of date, and the plan re-creates it.
 */
function withOutdatedRoutes(project: Project, observation: Observation): Map<string, ObservedTarget> {
  const targets = new Map(observation.targets);
  const wanted = desiredReplicas(project);
  for (const manifest of project.manifests.filter((m) => m.gateway)) {
    const upstreams = observation.state?.targets[manifest.name]?.upstreams;
    const seen = targets.get(manifest.name);
    if (!upstreams || !seen) continue;
    const changed = Object.entries(upstreams).filter(([service, count]) => wanted[service] !== undefined && wanted[service] !== count);
    if (changed.length === 0) continue;
    const why = changed.map(([service, count]) => `${service} ${count} → ${wanted[service]}`).join(', ');
    targets.set(manifest.name, { ...seen, outdated: `its routing table names other instances (${why}): re-create it` });
  }
  return targets;
}
