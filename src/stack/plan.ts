import type { TargetPhase } from '../core/events';
import type { DependencyGraph } from './graph';
import { instanceIndex, instanceNames, serviceOfInstance } from './replicas';

/** What the runtime sees of one part of the stack right now. */
export interface ObservedTarget {
  name: string;
  phase: TargetPhase;
  pid?: number;
  /** Why what runs differs from what `up` would run now (docker: another config-hash); unset when it does not. */
  outdated?: string;
}

export interface PlanStep {
  target: string;
  kind: 'infrastructure' | 'service';
  /**
   * recreate: replace what runs with the current definition (docker: remove and create the
   * container); scale: start and stop instances until the wanted count runs.
   */
  action: 'start' | 'keep' | 'recreate' | 'scale';
  /** scale: the instances to start, and those to stop (highest first). */
  instances?: { start: string[]; stop: string[] };
  /** Why: "not running", "already healthy (pid 123)"… */
  reason: string;
  /** Steps of one level can run together; a level starts once the previous one is healthy. */
  level: number;
  needs: string[];
}

export interface UpPlan {
  requested: string[];
  steps: PlanStep[];
}

const ALIVE: ReadonlySet<TargetPhase> = new Set(['starting', 'waiting', 'healthy', 'running', 'unhealthy', 'restarting']);

/** A target in one of these phases has a process (or a container) that runs. */
export const isAlive = (target: ObservedTarget | undefined): boolean => target !== undefined && ALIVE.has(target.phase);

/**
 * The plan for `up`: the requested services (all when none) and what they need, in start
 * order by level; what already runs is kept, the rest is started. With `replicas` (instances
 * wanted per service), a running service with another count of live instances is scaled: the
 * missing instances start, the surplus ones stop. Pure: the same graph, observation and counts
 * always give the same plan.
 */
export function planUp(graph: DependencyGraph, requested: string[], observed: ReadonlyMap<string, ObservedTarget>, replicas: Readonly<Record<string, number>> = {}): UpPlan {
  const targets = requested.length > 0 ? graph.closure(requested) : new Set(graph.names);
  const steps: PlanStep[] = [];
  graph.levels(targets).forEach((names, level) => {
    for (const name of names) {
      const node = graph.node(name);
      const seen = observed.get(name);
      const base = { target: name, kind: node.kind, level, needs: node.needs };
      if (seen?.outdated) {
        steps.push({ ...base, action: 'recreate', reason: seen.outdated });
        continue;
      }
      const running = [...observed.values()].filter((target) => serviceOfInstance(target.name) === name && isAlive(target)).map((target) => target.name);
      const wanted = replicas[name];
      if (isAlive(seen) && wanted !== undefined) {
        const names = new Set(instanceNames(name, wanted));
        const start = [...names].filter((instance) => !running.includes(instance));
        const stop = running.filter((instance) => !names.has(instance)).sort((a, b) => instanceIndex(b) - instanceIndex(a));
        if (start.length > 0 || stop.length > 0) {
          steps.push({ ...base, action: 'scale', reason: `runs ${running.length} instance${running.length === 1 ? '' : 's'}, ${wanted} wanted`, instances: { start, stop } });
          continue;
        }
      }
      steps.push({
        ...base,
        action: seen && isAlive(seen) ? 'keep' : 'start',
        reason: seen && isAlive(seen) ? `already ${seen.phase}${seen.pid ? ` (pid ${seen.pid})` : ''}` : seen ? `${seen.phase}` : 'not running',
      });
    }
  });
  return { requested: requested.length > 0 ? requested : graph.names.filter((name) => graph.node(name).kind === 'service'), steps };
}

/** The steps that start or re-create something: what `up` has to do. */
export const stepsToRun = (plan: UpPlan): PlanStep[] => plan.steps.filter((step) => step.action !== 'keep');

/** `down`: everything observed alive, dependents before what they need. */
export function planDown(graph: DependencyGraph, observed: ReadonlyMap<string, ObservedTarget>): string[] {
  const alive = [...observed.values()].filter((target) => target.phase !== 'stopped').map((target) => target.name);
  const known = alive.filter((name) => graph.names.includes(name));
  const unknown = alive.filter((name) => !graph.names.includes(name));
  // A service whose folder was removed still gets stopped, first.
  return [...unknown, ...graph.stopOrder(known)];
}

export function describePlan(plan: UpPlan): string[] {
  const lines: string[] = [];
  let level = -1;
  for (const step of plan.steps) {
    if (step.level !== level) {
      level = step.level;
      lines.push(`step ${level + 1}:`);
    }
    const instances = step.instances ? [step.instances.start.length ? `start ${step.instances.start.join(', ')}` : '', step.instances.stop.length ? `stop ${step.instances.stop.join(', ')}` : ''].filter(Boolean).join('; ') : '';
    lines.push(`  ${step.action.padEnd(5)}  ${step.target.padEnd(18)} ${step.reason}${instances ? ` (${instances})` : ''}${step.needs.length ? `  (needs ${step.needs.join(', ')})` : ''}`);
  }
  return lines;
}
