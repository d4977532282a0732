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
import { DEFAULT_TIMEOUT_SECONDS, type Breakage, type ChaosAction, type DownResult, type LogRequest, type LogSink, type Runtime, type RuntimeObservation, type RuntimeOpenOptions, type RuntimeUpOptions } from '../runtime';
import type { StackStatus, TargetStatus } from '../types';
import { formatSeconds } from '../../core/duration';
import { downDocker, observeDocker, restartDocker, upDocker } from './converge';
import { connectDocker } from './engine';
import { followDockerLogs } from './logs';
import { listContainers, otlpEndpointOf, readDockerState, targetOf } from './state';
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

  restart(target: string, sink: ProgressSink, options: { timeoutSeconds?: number } = {}): Promise<void> {
    return restartDocker(this.project, target, options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, sink);
  }

  status(): Promise<StackStatus> {
    return dockerStatus(this.project);
  }

  async logs(request: LogRequest, sink: LogSink): Promise<void> {
    // The Engine's output carries no time of its own: lines come per container, as they are.
    sink.snapshot([], request.targets);
    await followDockerLogs(this.project, (target, text) => sink.line({ target, text, time: undefined }), request.signal, {
      follow: request.follow,
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
}
