/**
 * The gateway's choice of upstream instance with real breakers: round-robin over the instances
 * whose breaker is not open, and, when every one is open, the next one in turn, whose breaker
 * refuses at once. Breakers are opened by failing calls; fake timers move them to half-open.
 */
import { CircuitOpenError, CircuitRegistry } from '@msctl/kit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UpstreamInstances } from '../src/instances';
import type { GatewayRoute } from '../src/routes';

const RESET_MS = 10_000;

const routes: GatewayRoute[] = [
  { upstream: 'users', urls: ['http://10.0.0.1:4001', 'http://10.0.0.2:4001', 'http://10.0.0.3:4001'], prefix: '/api/users', upstreamPath: '/users', public: [] },
  { upstream: 'users', urls: ['http://10.0.0.1:4001', 'http://10.0.0.2:4001', 'http://10.0.0.3:4001'], prefix: '/api/auth/token', upstreamPath: '/auth/token', public: [] },
  { upstream: 'analytics', urls: ['http://10.0.0.9:4004'], prefix: '/api/analytics', upstreamPath: '/analytics', public: [] },
];

let circuits: CircuitRegistry;
let instances: UpstreamInstances;

const picks = (upstream: string, count: number) => Array.from({ length: count }, () => instances.pick(upstream).label);

/** Fails a call through the instance's breaker, which opens it (one failure is enough here). */
async function open(label: string): Promise<void> {
  const instance = instances.all().find((candidate) => candidate.label === label)!;
  await instance.circuit.run(() => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).catch(() => undefined);
  expect(instance.circuit.state).toBe('open');
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  circuits = new CircuitRegistry({ timeoutMs: 1_000, resetMs: RESET_MS, errorThresholdPercent: 1, volumeThreshold: 1 });
  instances = new UpstreamInstances(routes, (name) => circuits.get(name));
});

afterEach(() => {
  circuits.shutdown();
  vi.useRealTimers();
});

describe('UpstreamInstances.pick', () => {
  it('takes the instances of an upstream in turn, one breaker each', () => {
    expect(instances.all().map((instance) => instance.label)).toEqual(['users#1', 'users#2', 'users#3', 'analytics']);
    expect(new Set(instances.all().map((instance) => instance.circuit)).size).toBe(4);
    expect(picks('users', 4)).toEqual(['users#1', 'users#2', 'users#3', 'users#1']);
  });

  it('skips an instance whose breaker is open', async () => {
    await open('users#2');
    expect(picks('users', 4)).toEqual(['users#1', 'users#3', 'users#1', 'users#3']);
  });

  it('takes the instance again once its breaker lets a trial call through, and keeps it once the trial succeeds', async () => {
    await open('users#2');
    expect(picks('users', 2)).toEqual(['users#1', 'users#3']);
    await vi.advanceTimersByTimeAsync(RESET_MS);
    expect(picks('users', 2)).toEqual(['users#1', 'users#2']);
    const second = instances.all().find((instance) => instance.label === 'users#2')!;
    expect(second.circuit.state).toBe('half-open');
    await second.circuit.run(async () => 'ok');
    expect(second.circuit.state).toBe('closed');
    expect(picks('users', 3)).toEqual(['users#3', 'users#1', 'users#2']);
  });

  it('with every breaker open, still takes each instance in turn, and its breaker refuses without calling it', async () => {
    for (const label of ['users#1', 'users#2', 'users#3']) await open(label);
    const chosen = [0, 1, 2, 3].map(() => instances.pick('users'));
    expect(chosen.map((instance) => instance.label)).toEqual(['users#1', 'users#2', 'users#3', 'users#1']);
    const forward = vi.fn(async () => 'answer');
    for (const instance of chosen) await expect(instance.circuit.run(forward)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(forward).not.toHaveBeenCalled();
  });

  it('when all but one are open, every request goes to that one', async () => {
    await open('users#1');
    await open('users#3');
    expect(picks('users', 3)).toEqual(['users#2', 'users#2', 'users#2']);
  });

  it('a single instance whose breaker is open is still the one taken; other upstreams are not affected', async () => {
    await open('analytics');
    expect(picks('analytics', 2)).toEqual(['analytics', 'analytics']);
    expect(picks('users', 3)).toEqual(['users#1', 'users#2', 'users#3']);
    expect(() => instances.pick('billing')).toThrow(/no instance of billing/);
  });
});
