/** `msctl status` on the docker runtime: the containers as the Engine reports them, and each service's /health. */
import { summarizeHealth } from '../health';
import type { HealthDocument, HealthSummary, StackStatus, TargetStatus } from '../types';
import { manifestOf, type Project } from '../../stack/project';
import { instanceIndex, serviceOfInstance } from '../../stack/replicas';
import { connectDocker } from './engine';
import { listContainers, phaseOf, readDockerState, targetOf } from './state';
import { readWatcherPid } from './watcher';

async function serviceHealth(port: number, path: string): Promise<HealthSummary> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1_500) });
    return summarizeHealth((await response.json()) as HealthDocument);
  } catch {
    return { status: 'fail', checks: {}, circuits: {}, problems: {} };
  }
}

export async function dockerStatus(project: Project, now: () => number = Date.now): Promise<StackStatus> {
  const docker = await connectDocker();
  const containers = await listContainers(docker, project);
  const state = await readDockerState(project);
  const watcher = await readWatcherPid(project);
  const order = project.graph.startOrder().flatMap((name) => {
    const instances = containers.map((info) => targetOf(info) ?? '').filter((target) => serviceOfInstance(target) === name);
    return instances.length > 0 ? instances.sort((a, b) => instanceIndex(a) - instanceIndex(b)) : [name];
  });
  const targets = await Promise.all(
    order.map(async (name): Promise<TargetStatus> => {
      const info = containers.find((container) => targetOf(container) === name);
      if (!info) {
        return { name, kind: project.graph.node(serviceOfInstance(name)).kind, state: 'stopped', health: 'unknown', pid: null, id: null, port: null, uptimeSeconds: null, restarts: 0, lastExit: null, checks: {}, circuits: {}, problems: {}, detail: null };
      }
      const inspect = await docker.getContainer(info.Id).inspect();
      const phase = phaseOf(info);
      const manifest = manifestOf(project, serviceOfInstance(name));
      const port = info.Ports.find((p) => p.IP === '127.0.0.1')?.PublicPort ?? null;
      const live = manifest && inspect.State.Running && port ? await serviceHealth(port, manifest.healthPath) : undefined;
      return {
        name,
        kind: project.graph.node(serviceOfInstance(name)).kind,
        state: phase,
        health: live?.status ?? (inspect.State.Health?.Status === 'healthy' ? 'pass' : inspect.State.Running ? 'unknown' : 'fail'),
        pid: inspect.State.Running ? inspect.State.Pid : null,
        id: inspect.State.Running ? info.Id : null,
        port,
        uptimeSeconds: inspect.State.Running ? Math.max(0, Math.round((now() - Date.parse(inspect.State.StartedAt)) / 1000)) : null,
        restarts: inspect.RestartCount + (state.restarts[name] ?? 0),
        // Docker keeps the exit code of a stopped container only; a signal shows as 128 + its number.
        lastExit: !inspect.State.Running && !inspect.State.FinishedAt.startsWith('0001-') ? { code: inspect.State.ExitCode, signal: null, at: inspect.State.FinishedAt } : null,
        checks: live?.checks ?? {},
        circuits: live?.circuits ?? {},
        problems: live?.problems ?? {},
        detail: `${inspect.Name.replace(/^\//, '')} ${inspect.Config.Image}`,
      };
    }),
  );
  const services = targets.filter((target) => target.kind === 'service');
  return {
    runtime: 'docker',
    project: project.root,
    supervisor: { state: watcher?.ours ? 'running' : containers.length > 0 ? 'stale' : 'none', pid: watcher?.ours ? watcher.pid : null },
    healthy: services.length > 0 && services.every((target) => target.state === 'healthy'),
    targets,
  };
}
