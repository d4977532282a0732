import type { TargetPhase } from '../core/events';
import type { DependencyGraph } from './graph';

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
  /** recreate: replace what runs with the current definition (docker: remove and create the container). */
  action: 'start' | 'keep' | 'recreate';
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

/**
 * The plan for `up`: the requested services (all when none) and what they need, in start
 * order by level; what already runs is kept, the rest is started. Pure: the same graph and
 * observation always give the same plan.
 */
export function planUp(graph: DependencyGraph, requested: string[], observed: ReadonlyMap<string, ObservedTarget>): UpPlan {
  const targets = requested.length > 0 ? graph.closure(requested) : new Set(graph.names);
  const steps: PlanStep[] = [];
  graph.levels(targets).forEach((names, level) => {
    for (const name of names) {
      const node = graph.node(name);
      const seen = observed.get(name);
      const alive = seen !== undefined && ALIVE.has(seen.phase);
      const action = seen?.outdated ? 'recreate' : alive ? 'keep' : 'start';
      steps.push({
        target: name,
        kind: node.kind,
        action,
        reason: seen?.outdated ?? (alive ? `already ${seen.phase}${seen.pid ? ` (pid ${seen.pid})` : ''}` : seen ? `${seen.phase}` : 'not running'),
        level,
        needs: node.needs,
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
    lines.push(`  ${step.action.padEnd(5)}  ${step.target.padEnd(18)} ${step.reason}${step.needs.length ? `  (needs ${step.needs.join(', ')})` : ''}`);
  }
  return lines;
}
