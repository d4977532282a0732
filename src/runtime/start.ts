/**
 * What `up`, `dev` and `scale` do to converge a stack, on whichever runtime: observe, plan, build
 * what is stale among the services the plan starts, and have the runtime execute the plan.
 */
import { MsctlError } from '../core/errors';
import type { ProgressSink } from '../core/events';
import { buildStale } from '../stack/build';
import { type UpPlan, isAlive, planUp, stepsToRun } from '../stack/plan';
import type { Project } from '../stack/project';
import { desiredReplicas, saveReplicas, serviceOfInstance } from '../stack/replicas';
import type { Runtime, RuntimeUpOptions } from './runtime';

export interface StartResult {
  plan: UpPlan;
  /** Whether anything had to start (false: it all ran already). */
  started: boolean;
  /** The runtime's remark on what it found (a supervisor gone, say). */
  note?: string;
}

export async function planStart(runtime: Runtime, project: Project, services: string[]): Promise<{ plan: UpPlan; note?: string }> {
  const observation = await runtime.observe();
  return { plan: planUp(project.graph, services, observation.targets, desiredReplicas(project)), ...(observation.note ? { note: observation.note } : {}) };
}

export async function startStack(runtime: Runtime, project: Project, plan: UpPlan, options: RuntimeUpOptions, sink: ProgressSink): Promise<StartResult> {
  const toRun = stepsToRun(plan);
  if (toRun.length > 0) {
    const services = project.manifests.filter((manifest) => toRun.some((step) => step.target === manifest.name));
    await buildStale(services, project.servicesDir, sink);
  }
  // Also when nothing has to start: the runtime keeps a running stack kept (docker's watcher).
  await runtime.up(plan, options, sink);
  return { plan, started: toRun.length > 0 };
}

/**
 * `msctl scale`, as Compose's scale sets replicas and converges: records the wanted counts
 * (.msctl/replicas.json, which every later `up` honours), then executes the plan of every
 * service that runs, so that what depends on the scaled ones (a gateway's routes) converges too.
 */
export async function scaleStack(runtime: Runtime, project: Project, wanted: Record<string, number>, options: RuntimeUpOptions, sink: ProgressSink): Promise<UpPlan> {
  await saveReplicas(project, { ...desiredReplicas(project), ...wanted });
  const observed = (await runtime.observe()).targets;
  const running = new Set([...observed.values()].filter(isAlive).map((target) => serviceOfInstance(target.name)));
  for (const service of Object.keys(wanted)) {
    if (!running.has(service)) throw new MsctlError('NOT_RUNNING', `${service} is not running`, `start it with \`msctl up ${service}\`; the new count is kept for it`);
  }
  const services = [...running].filter((name) => project.graph.names.includes(name) && project.graph.node(name).kind === 'service');
  const plan = planUp(project.graph, services, observed, desiredReplicas(project));
  await runtime.up(plan, options, sink);
  return plan;
}
