import type { Project } from '../../stack/project';
import { instanceIndex, serviceOfInstance } from '../../stack/replicas';
import type { StackStatus, TargetStatus } from '../types';
import { observe } from './observe';

export async function localStatus(project: Project, now: () => number = Date.now): Promise<StackStatus> {
  const observation = await observe(project);
  // Every instance, in start order: "users", then "users#2"…
  const saved = Object.keys(observation.state?.targets ?? {});
  const order = project.graph.startOrder().flatMap((name) => {
    const instances = saved.filter((target) => serviceOfInstance(target) === name).sort((a, b) => instanceIndex(a) - instanceIndex(b));
    return instances.length > 0 ? instances : [name];
  });
  const targets = order.map((name): TargetStatus => {
    const saved = observation.state?.targets[name];
    const seen = observation.targets.get(name);
    const alive = seen !== undefined && seen.phase !== 'stopped';
    const startedAt = alive && saved?.startedAt ? Date.parse(saved.startedAt) : undefined;
    return {
      name,
      kind: project.graph.node(serviceOfInstance(name)).kind,
      state: alive ? seen.phase : 'stopped',
      health: alive ? (saved?.health ?? 'unknown') : 'unknown',
      pid: alive ? (saved?.pid ?? null) : null,
      id: alive && saved?.pid ? String(saved.pid) : null,
      port: saved?.port ?? null,
      uptimeSeconds: startedAt ? Math.max(0, Math.round((now() - startedAt) / 1000)) : null,
      restarts: saved?.restarts ?? 0,
      lastExit: saved?.lastExit ?? null,
      checks: alive ? (saved?.checks ?? {}) : {},
      circuits: alive ? (saved?.circuits ?? {}) : {},
      problems: alive ? (saved?.problems ?? {}) : {},
      detail: saved?.detail ?? null,
    };
  });
  const services = targets.filter((target) => target.kind === 'service');
  return {
    runtime: 'local',
    project: project.root,
    supervisor: { state: observation.supervisor, pid: observation.state?.supervisor.pid ?? null },
    healthy: services.length > 0 && services.every((target) => target.state === 'healthy'),
    targets,
  };
}
