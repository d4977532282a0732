import { MsctlError } from '../core/errors';

/** A node of the stack: infrastructure (kafka, postgres) or a service, and what it needs first. */
export interface StackNode {
  name: string;
  kind: 'infrastructure' | 'service';
  needs: string[];
}

/**
 * The stack's dependency graph. Start order is a topological order (dependencies first,
 * ties broken by name so plans are stable); stop order is its reverse. Levels group nodes
 * that can start together.
 */
export class DependencyGraph {
  private readonly nodes = new Map<string, StackNode>();

  constructor(nodes: StackNode[]) {
    for (const node of nodes) {
      if (this.nodes.has(node.name)) throw new MsctlError('USAGE', `two parts of the stack are named "${node.name}"`, 'rename one of the services');
      this.nodes.set(node.name, node);
    }
    for (const node of nodes) {
      for (const need of node.needs) {
        if (!this.nodes.has(need)) {
          throw new MsctlError(
            'USAGE',
            `${node.name} needs "${need}", which is neither a service nor infrastructure`,
            `known: ${[...this.nodes.keys()].sort().join(', ')}; fix "needs" in services/${node.name}/service.json`,
          );
        }
      }
    }
    const cycle = this.findCycle();
    if (cycle) {
      throw new MsctlError('USAGE', `dependency cycle: ${cycle.join(' → ')}`, 'remove one of these "needs" so the services can start in order');
    }
  }

  get names(): string[] {
    return [...this.nodes.keys()];
  }

  node(name: string): StackNode {
    const node = this.nodes.get(name);
    if (!node) throw new MsctlError('USAGE', `no service or infrastructure named "${name}"`, `known: ${[...this.nodes.keys()].sort().join(', ')}`);
    return node;
  }

  /** `targets` and everything they need, transitively. */
  closure(targets: string[]): Set<string> {
    const result = new Set<string>();
    const visit = (name: string) => {
      if (result.has(name)) return;
      result.add(name);
      for (const need of this.node(name).needs) visit(need);
    };
    for (const target of targets) visit(target);
    return result;
  }

  /** Everything that needs `target`, transitively (what a stop of `target` would break). */
  dependents(target: string): Set<string> {
    const result = new Set<string>();
    const visit = (name: string) => {
      for (const node of this.nodes.values()) {
        if (node.needs.includes(name) && !result.has(node.name)) {
          result.add(node.name);
          visit(node.name);
        }
      }
    };
    visit(target);
    return result;
  }

  /** Groups in start order: every node's needs are in earlier levels. */
  levels(subset: Iterable<string> = this.nodes.keys()): string[][] {
    const remaining = new Set(subset);
    const done = new Set<string>();
    const levels: string[][] = [];
    while (remaining.size > 0) {
      // Needs outside the subset count as met: they run already, or were not asked for.
      const ready = [...remaining].filter((name) => this.node(name).needs.every((need) => done.has(need) || !remaining.has(need))).sort();
      for (const name of ready) {
        remaining.delete(name);
        done.add(name);
      }
      levels.push(ready);
    }
    return levels;
  }

  startOrder(subset?: Iterable<string>): string[] {
    return this.levels(subset).flat();
  }

  stopOrder(subset?: Iterable<string>): string[] {
    return this.startOrder(subset).reverse();
  }

  /**
   * The slowest chain of starts: the longest path through the graph weighted by each
   * node's start time. Nothing can be healthy sooner than this.
   */
  criticalPath(durationOf: (name: string) => number, subset: Iterable<string> = this.nodes.keys()): { path: string[]; total: number } {
    const members = new Set(subset);
    const best = new Map<string, { total: number; path: string[] }>();
    for (const name of this.startOrder(members)) {
      let before: { total: number; path: string[] } = { total: 0, path: [] };
      for (const need of this.node(name).needs) {
        const candidate = best.get(need);
        if (candidate && candidate.total > before.total) before = candidate;
      }
      best.set(name, { total: before.total + durationOf(name), path: [...before.path, name] });
    }
    let result = { path: [] as string[], total: 0 };
    for (const value of best.values()) if (value.total > result.total) result = value;
    return result;
  }

  private findCycle(): string[] | undefined {
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (name: string): string[] | undefined => {
      if (state.get(name) === 'done') return undefined;
      if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
      state.set(name, 'visiting');
      stack.push(name);
      for (const need of this.nodes.get(name)?.needs ?? []) {
        const cycle = visit(need);
        if (cycle) return cycle;
      }
      stack.pop();
      state.set(name, 'done');
      return undefined;
    };
    for (const name of [...this.nodes.keys()].sort()) {
      const cycle = visit(name);
      if (cycle) return cycle;
    }
    return undefined;
  }
}
