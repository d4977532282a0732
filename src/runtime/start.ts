/**
 * What `up` and `dev` do to start a stack: observe, plan, build what is stale among the services
 * the plan starts, and have the runtime execute the plan.
 */
import type { ProgressSink } from '../core/events';
import { buildStale } from '../stack/build';
import { type UpPlan, planUp, stepsToRun } from '../stack/plan';
import type { Project } from '../stack/project';
import { desiredReplicas } from '../stack/replicas';
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
