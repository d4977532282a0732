import { describe, expect, it } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import { DependencyGraph, type StackNode } from '../../src/stack/graph';
import { describePlan, planDown, planUp, type ObservedTarget } from '../../src/stack/plan';

const infra = (name: string): StackNode => ({ name, kind: 'infrastructure', needs: [] });
const svc = (name: string, ...needs: string[]): StackNode => ({ name, kind: 'service', needs });

const stack = () =>
  new DependencyGraph([
    infra('kafka'),
    infra('postgres'),
    svc('users', 'postgres', 'kafka'),
    svc('data-processing', 'kafka'),
    svc('notifications', 'postgres', 'kafka'),
    svc('analytics', 'postgres', 'kafka'),
    svc('gateway', 'users', 'data-processing', 'notifications', 'analytics'),
  ]);

describe('DependencyGraph', () => {
  it('orders starts by level, dependencies first, ties by name', () => {
    expect(stack().levels()).toEqual([['kafka', 'postgres'], ['analytics', 'data-processing', 'notifications', 'users'], ['gateway']]);
  });

  it('stops in the reverse of the start order', () => {
    const graph = stack();
    expect(graph.stopOrder()).toEqual([...graph.startOrder()].reverse());
    expect(graph.stopOrder()[0]).toBe('gateway');
  });

  it('gives a service and what it needs, transitively', () => {
    expect([...stack().closure(['users'])].sort()).toEqual(['kafka', 'postgres', 'users']);
    expect(stack().closure(['gateway']).size).toBe(7);
  });

  it('names the cycle', () => {
    const cyclic = () => new DependencyGraph([svc('a', 'b'), svc('b', 'c'), svc('c', 'a')]);
    expect(cyclic).toThrow(MsctlError);
    expect(cyclic).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'dependency cycle: a → b → c → a' }),
    );
  });

  it('names an unknown dependency and where to fix it', () => {
    expect(() => new DependencyGraph([infra('kafka'), svc('users', 'redis')])).toThrow(/users needs "redis"/);
    const unknownNeed = () => new DependencyGraph([svc('users', 'redis')]);
    expect(unknownNeed).toThrow(MsctlError);
    expect(unknownNeed).toThrow(
      expect.objectContaining({ code: 'USAGE', hint: expect.stringMatching(/services\/users\/service.json/) }),
    );
  });

  it('finds the critical path: the slowest chain of starts', () => {
    const durations: Record<string, number> = { kafka: 3, postgres: 1, users: 2, 'data-processing': 1, notifications: 1, analytics: 4, gateway: 1 };
    expect(stack().criticalPath((name) => durations[name]!)).toEqual({ path: ['kafka', 'analytics', 'gateway'], total: 8 });
  });
});

describe('plans', () => {
  const observed = (entries: ObservedTarget[]) => new Map(entries.map((entry) => [entry.name, entry]));

  it('up starts everything when nothing runs', () => {
    const plan = planUp(stack(), [], new Map());
    expect(plan.steps.every((step) => step.action === 'start')).toBe(true);
    expect(plan.steps.map((step) => step.target)).toEqual(stack().startOrder());
  });

  it('up keeps what already runs and starts the rest', () => {
    const plan = planUp(stack(), ['users'], observed([{ name: 'kafka', phase: 'healthy', pid: 10 }, { name: 'postgres', phase: 'stopped' }]));
    expect(plan.steps.map((step) => [step.target, step.action, step.reason])).toEqual([
      ['kafka', 'keep', 'already healthy (pid 10)'],
      ['postgres', 'start', 'stopped'],
      ['users', 'start', 'not running'],
    ]);
    expect(describePlan(plan)).toEqual([
      'step 1:',
      '  keep   kafka              already healthy (pid 10)',
      '  start  postgres           stopped',
      'step 2:',
      '  start  users              not running  (needs postgres, kafka)',
    ]);
  });

  it('a running service with another count of live instances is scaled: the missing ones start, the surplus stop, highest first', () => {
    const running = observed([
      { name: 'kafka', phase: 'healthy' },
      { name: 'postgres', phase: 'healthy' },
      { name: 'users', phase: 'healthy' },
      { name: 'users#2', phase: 'healthy' },
      { name: 'users#3', phase: 'unhealthy' },
      { name: 'users#4', phase: 'stopped' },
    ]);
    const down = planUp(stack(), ['users'], running, { users: 1 }).steps.find((step) => step.target === 'users')!;
    expect([down.action, down.reason, down.instances]).toEqual(['scale', 'runs 3 instances, 1 wanted', { start: [], stop: ['users#3', 'users#2'] }]);
    const up = planUp(stack(), ['users'], running, { users: 5 }).steps.find((step) => step.target === 'users')!;
    expect([up.action, up.instances]).toEqual(['scale', { start: ['users#4', 'users#5'], stop: [] }]);
    expect(planUp(stack(), ['users'], running, { users: 3 }).steps.find((step) => step.target === 'users')!.action).toBe('keep');
    // Not running at all: started, every instance (the runtime starts as many as wanted).
    expect(planUp(stack(), ['users'], observed([{ name: 'users', phase: 'stopped' }]), { users: 3 }).steps.find((step) => step.target === 'users')!.action).toBe('start');
    expect(describePlan(planUp(stack(), ['users'], running, { users: 1 })).at(-1)).toBe('  scale  users              runs 3 instances, 1 wanted (stop users#3, users#2)  (needs postgres, kafka)');
  });

  it('a target whose definition changed is re-created, with the reason the runtime gave', () => {
    const plan = planUp(stack(), ['users'], observed([
      { name: 'kafka', phase: 'healthy' },
      { name: 'postgres', phase: 'healthy' },
      { name: 'users', phase: 'healthy', outdated: 'its definition changed' },
    ]));
    expect(plan.steps.map((step) => [step.target, step.action, step.reason])).toEqual([
      ['kafka', 'keep', 'already healthy'],
      ['postgres', 'keep', 'already healthy'],
      ['users', 'recreate', 'its definition changed'],
    ]);
  });

  it('down stops dependents before what they need', () => {
    const order = planDown(stack(), observed([
      { name: 'kafka', phase: 'healthy' },
      { name: 'users', phase: 'healthy' },
      { name: 'gateway', phase: 'restarting' },
      { name: 'postgres', phase: 'stopped' },
    ]));
    expect(order).toEqual(['gateway', 'users', 'kafka']);
  });
});
