import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Circuit, CircuitOpenError, CircuitRegistry } from '../src/circuit-breaker';
import { ServiceMetrics } from '../src/metrics';

const options = { timeoutMs: 200, resetMs: 150, errorThresholdPercent: 50, volumeThreshold: 2 };
const circuits: Circuit[] = [];
const makeCircuit = (overrides = {}) => {
  const circuit = new Circuit('dep', { ...options, ...overrides });
  circuits.push(circuit);
  return circuit;
};
afterEach(() => circuits.splice(0).forEach((c) => c.shutdown()));

const fail = () => Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }));

describe('Circuit', () => {
  // The breaker's reset and call timeouts are timers (and retryInMs reads Date): fake time moves only when told.
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Lets the open breaker's reset time pass, checking it stays open until the last millisecond. */
  const waitOutReset = async (circuit: Circuit) => {
    await vi.advanceTimersByTimeAsync(options.resetMs - 1);
    expect(circuit.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(circuit.state).toBe('half-open');
  };

  it('passes calls and results through while closed', async () => {
    const circuit = makeCircuit();
    await expect(circuit.run(async () => 42)).resolves.toBe(42);
    expect(circuit.state).toBe('closed');
  });

  it('opens after the error threshold and then fails fast without calling', async () => {
    const circuit = makeCircuit();
    await expect(circuit.run(fail)).rejects.toThrow('down');
    await expect(circuit.run(fail)).rejects.toThrow('down');
    expect(circuit.state).toBe('open');
    let called = false;
    const error = await circuit
      .run(async () => {
        called = true;
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect((error as CircuitOpenError).retryInMs).toBe(options.resetMs);
    expect(called).toBe(false);
    expect(circuit.snapshot()).toMatchObject({ name: 'dep', state: 'open', stats: { failures: 2, rejects: 1 }, retryInMs: options.resetMs });
    await vi.advanceTimersByTimeAsync(100);
    expect(circuit.snapshot().retryInMs).toBe(options.resetMs - 100);
  });

  it('rejectWhileOpen refuses (counted as a reject) only while open, and leaves the half-open trial to the real call', async () => {
    const circuit = makeCircuit();
    await expect(circuit.rejectWhileOpen()).resolves.toBeUndefined();
    await circuit.run(fail).catch(() => undefined);
    await circuit.run(fail).catch(() => undefined);
    await expect(circuit.rejectWhileOpen()).rejects.toBeInstanceOf(CircuitOpenError);
    expect(circuit.snapshot().stats).toMatchObject({ failures: 2, rejects: 1 });
    await waitOutReset(circuit);
    await expect(circuit.rejectWhileOpen()).resolves.toBeUndefined();
    expect(circuit.state).toBe('half-open');
    await expect(circuit.run(async () => 'trial')).resolves.toBe('trial');
    expect(circuit.state).toBe('closed');
  });

  it('lets exactly one trial call through when half-open, and closes on its success', async () => {
    const circuit = makeCircuit();
    await circuit.run(fail).catch(() => undefined);
    await circuit.run(fail).catch(() => undefined);
    await waitOutReset(circuit);
    let calls = 0;
    let release: () => void = () => undefined;
    const trial = circuit.run(async () => {
      calls += 1;
      await new Promise<void>((resolve) => (release = resolve));
      return 'ok';
    });
    const others = await Promise.allSettled(
      [1, 2, 3].map(() =>
        circuit.run(async () => {
          calls += 1;
        }),
      ),
    );
    expect(others.every((r) => r.status === 'rejected' && r.reason instanceof CircuitOpenError)).toBe(true);
    release();
    await expect(trial).resolves.toBe('ok');
    expect(calls).toBe(1);
    expect(circuit.state).toBe('closed');
  });

  it('re-opens when the half-open trial fails', async () => {
    const circuit = makeCircuit();
    await circuit.run(fail).catch(() => undefined);
    await circuit.run(fail).catch(() => undefined);
    await waitOutReset(circuit);
    await expect(circuit.run(fail)).rejects.toThrow('down');
    expect(circuit.state).toBe('open');
  });

  it('counts a call slower than the timeout as a failure', async () => {
    const circuit = makeCircuit({ timeoutMs: 30 });
    let settled = false;
    const outcome = circuit.run(() => new Promise<never>(() => undefined)).catch((e: unknown) => e);
    void outcome.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(29);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(settled).toBe(true);
    expect(await outcome).toMatchObject({ code: 'ETIMEDOUT', message: 'dep: no answer within 30 ms' });
    expect(circuit.snapshot().stats).toMatchObject({ timeouts: 1, failures: 1 });
  });

  it('does not count errors the dependency is not to blame for', async () => {
    const circuit = makeCircuit({ isDependencyFailure: (e: unknown) => (e as { code?: string }).code !== '23505' });
    for (let i = 0; i < 4; i++) {
      await circuit.run(() => Promise.reject(Object.assign(new Error('duplicate'), { code: '23505' }))).catch(() => undefined);
    }
    expect(circuit.state).toBe('closed');
  });
});

describe('CircuitRegistry', () => {
  it('lists every breaker and exports its state as a gauge', async () => {
    const metrics = new ServiceMetrics('svc');
    const registry = new CircuitRegistry(options, metrics);
    const postgres = registry.get('postgres');
    registry.get('kafka');
    expect(registry.get('postgres')).toBe(postgres);
    await postgres.run(fail).catch(() => undefined);
    await postgres.run(fail).catch(() => undefined);
    expect(registry.snapshot().map((c) => [c.name, c.state])).toEqual([
      ['postgres', 'open'],
      ['kafka', 'closed'],
    ]);
    const text = await metrics.render();
    expect(text).toMatch(/circuit_breaker_state\{breaker="postgres",service="svc"\} 2/);
    expect(text).toMatch(/circuit_breaker_state\{breaker="kafka",service="svc"\} 0/);
    expect(text).toMatch(/circuit_breaker_events_total\{breaker="postgres",event="open",service="svc"\} 1/);
    registry.shutdown();
  });

  it('counts every call by outcome, each once, however often the metrics are read', async () => {
    const metrics = new ServiceMetrics('svc');
    const registry = new CircuitRegistry(options, metrics);
    const users = registry.get('users');
    for (let i = 0; i < 5; i++) await users.run(async () => 'ok');
    await users.run(fail).catch(() => undefined);
    const first = await metrics.render(['circuit_breaker_events_total']);
    expect(first).toMatch(/circuit_breaker_events_total\{breaker="users",event="success",service="svc"\} 5\n/);
    expect(first).toMatch(/circuit_breaker_events_total\{breaker="users",event="failure",service="svc"\} 1\n/);
    await users.run(async () => 'ok');
    const second = await metrics.render();
    expect(second).toMatch(/circuit_breaker_events_total\{breaker="users",event="success",service="svc"\} 6\n/);
    expect(second).toMatch(/circuit_breaker_events_total\{breaker="users",event="failure",service="svc"\} 1\n/);
    expect(await metrics.render(['circuit_breaker_events_total'])).toBe(await metrics.render(['circuit_breaker_events_total']));
    registry.shutdown();
  });
});
