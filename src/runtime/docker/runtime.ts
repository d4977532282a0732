/**
 * The docker runtime behind the Runtime interface: the same observe → plan → execute as the local
 * one, through the Engine API. Containers restart on their own when they crash (restart policy);
 * the watcher (watcher.ts) brings back one stopped behind msctl's back.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MsctlError } from '../../core/errors';
import type { ProgressSink } from '../../core/events';
import { stepsToRun, type UpPlan } from '../../stack/plan';
import type { Project } from '../../stack/project';
import { desiredReplicas, instanceIndex, serviceOfInstance } from '../../stack/replicas';
import { ensureSecrets } from '../../stack/secrets';
import { serviceOfTarget } from '../../stack/service-env';
import { DEFAULT_TIMEOUT_SECONDS, type Breakage, type ChaosAction, type DownResult, type ExecRequest, type LogRequest, type LogSink, type RestartOptions, type Runtime, type RuntimeObservation, type RuntimeOpenOptions, type RuntimeUpOptions } from '../runtime';
import type { StackStatus, TargetStatus } from '../types';
import { formatSeconds } from '../../core/duration';
import { downDocker, observeDocker, restartDocker, upDocker } from './converge';
import { connectDocker } from './engine';
import { followDockerLogs } from './logs';
import { listContainers, otlpEndpointOf, readDockerState, targetOf } from './state';
import { serviceSpec } from './spec';
import { dockerStatus } from './status';
import { ensureWatcher } from './watcher';

export class DockerRuntime implements Runtime {
  readonly kind = 'docker' as const;

  constructor(
    private readonly project: Project,
    private readonly options: RuntimeOpenOptions = {},
  ) {}

  async observe(): Promise<RuntimeObservation> {
    return { targets: await observeDocker(await connectDocker(), this.project) };
  }

  async up(plan: UpPlan, options: RuntimeUpOptions, sink: ProgressSink): Promise<void> {
    const scriptsDir = this.options.scriptsDir;
    if (stepsToRun(plan).length > 0) await upDocker(this.project, plan, { timeoutSeconds: options.timeoutSeconds, offline: options.offline ?? false, ...(scriptsDir ? { scriptsDir } : {}) }, sink);
    // Also when nothing had to start: a running stack keeps its watcher.
    await ensureWatcher(this.project, scriptsDir);
  }

  attach(sink: ProgressSink, signal: AbortSignal): Promise<void> {
    return followDockerLogs(this.project, (target, line) => sink.emit({ type: 'log', target, line }), signal, { follow: true, tail: 0 });
  }

  down(options: { volumes: boolean }, sink: ProgressSink): Promise<DownResult> {
    return downDocker(this.project, options, sink);
  }

  restart(target: string, sink: ProgressSink, options: RestartOptions = {}): Promise<void> {
    return restartDocker(this.project, target, options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, sink, { bundleOnly: options.bundleOnly ?? false });
  }

  status(): Promise<StackStatus> {
    return dockerStatus(this.project);
  }

  async logs(request: LogRequest, sink: LogSink): Promise<void> {
    // Lines come per container, as they are, each with the Engine's stamp as its time.
    sink.snapshot([], request.targets);
    await followDockerLogs(this.project, (target, text, time) => sink.line({ target, text, time }), request.signal, {
      follow: request.follow,
      timestamps: true,
      targets: request.targets,
      ...(request.tail !== undefined ? { tail: request.tail } : {}),
      ...(request.since ? { since: request.since } : {}),
    });
  }

  async breakTarget(target: TargetStatus, action: ChaosAction, forMs: number): Promise<Breakage> {
    const engine = await connectDocker();
    const info = (await listContainers(engine, this.project)).find((container) => targetOf(container) === target.name);
    if (!info) throw new MsctlError('NOT_RUNNING', `${target.name} has no container`, 'start it with `msctl up`');
    const container = engine.getContainer(info.Id);
    if (action === 'kill') {
      await container.kill();
      return { said: [`killed ${target.name} (docker kill); the watcher starts it again`], restoredBy: 'runtime' };
    }
    if (action === 'pause') {
      await container.pause();
      return {
        said: [`paused ${target.name} (docker pause) for ${formatSeconds(forMs)}`],
        restoredBy: 'msctl',
        restore: async () => {
          await container.unpause();
          return `${target.name} is back (unpaused)`;
        },
      };
    }
    // The watcher leaves a container alone while its hold file exists.
    const hold = join(this.project.stateDir, 'docker-hold', target.name);
    await mkdir(join(this.project.stateDir, 'docker-hold'), { recursive: true });
    await writeFile(hold, `${process.pid}\n`);
    try {
      await container.stop({ t: 10 });
    } catch (error) {
      await rm(hold, { force: true });
      throw error;
    }
    return {
      said: [`stopped ${target.name} (docker stop) for ${formatSeconds(forMs)}`],
      restoredBy: 'msctl',
      restore: async () => {
        try {
          await container.start();
        } finally {
          await rm(hold, { force: true });
        }
        return `${target.name} is back (started)`;
      },
    };
  }

  async traceEndpoint(): Promise<string | undefined> {
    return otlpEndpointOf(await readDockerState(this.project))?.endpoint;
  }

  /** The container's environment as `up` would create it now (serviceSpec): another one is re-created. */
  async environment(target: string): Promise<Record<string, string>> {
    const manifest = serviceOfTarget(this.project, target);
    const [secrets, state] = await Promise.all([ensureSecrets(this.project.stateDir), readDockerState(this.project)]);
    return serviceSpec(this.project, manifest, '', secrets, instanceIndex(target), desiredReplicas(this.project), otlpEndpointOf(state)).env;
  }

  /**
   * A process in the target's container (the Engine's exec API), with the environment `msctl env`
   * shows: an override edited since the container started reaches the command at once.
   */
  async exec(target: string, request: ExecRequest): Promise<number> {
    serviceOfTarget(this.project, target);
    if (request.command.length === 0) throw new MsctlError('USAGE', 'no command to run', `e.g. msctl exec ${target} -- node -e 'console.log(process.env.LOG_LEVEL)'`);
    const engine = await connectDocker();
    const info = (await listContainers(engine, this.project)).find((container) => targetOf(container) === target);
    if (info?.State !== 'running') throw new MsctlError('NOT_RUNNING', `${target} is not running`, `start it with \`msctl up ${serviceOfInstance(target)}\``);
    const env = await this.environment(target);
    const exec = await engine.getContainer(info.Id).exec({
      Cmd: request.command,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: request.tty,
      ...(request.tty && process.stdout.columns ? { ConsoleSize: [process.stdout.rows, process.stdout.columns] as [number, number] } : {}),
    });
    const stream = await exec.start({ hijack: true, stdin: true, Tty: request.tty });
    const ended = new Promise<void>((resolve, reject) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', reject);
    });
    // Without a TTY the Engine multiplexes stdout and stderr on one stream.
    if (request.tty) stream.pipe(process.stdout);
    else engine.modem.demuxStream(stream, process.stdout, process.stderr);
    const stdin = process.stdin;
    const raw = request.tty && stdin.isTTY;
    const resize = () => void exec.resize({ h: process.stdout.rows, w: process.stdout.columns }).catch(() => undefined);
    if (raw) {
      stdin.setRawMode(true);
      process.stdout.on('resize', resize);
    }
    stdin.pipe(stream);
    try {
      await ended;
    } finally {
      stdin.unpipe(stream);
      stdin.pause();
      if (raw) {
        stdin.setRawMode(false);
        process.stdout.off('resize', resize);
      }
    }
    const { ExitCode } = await exec.inspect();
    return ExitCode ?? 1;
  }
}
