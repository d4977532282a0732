import { describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { HealthReporter } from '../src/health';

const breakerOptions = { timeoutMs: 100, resetMs: 10_000, errorThresholdPercent: 50, volumeThreshold: 1 };

/** A dependency probe that counts its calls and fails while `down`. */
function countedProbe() {
  const state = {
    probes: 0,
    down: false,
    probe: async () => {
      state.probes += 1;
      if (state.down) throw new Error('connection refused');
    },
  };
  return state;
}

describe('HealthReporter', () => {
  it('reports pass with a check per dependency, its latency and every circuit', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    circuits.get('postgres');
    const health = new HealthReporter('users', '1.2.3', circuits);
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: async () => undefined });
    const report = await health.report();
    expect(report).toMatchObject({
      status: 'pass',
      serviceId: 'users',
      version: '1.2.3',
      checks: { 'postgres:connection': [{ componentType: 'datastore', status: 'pass', observedUnit: 'ms' }] },
      circuits: [{ name: 'postgres', state: 'closed' }],
    });
    expect(report.checks['postgres:connection']![0]!.observedValue).toBeGreaterThanOrEqual(0);
    circuits.shutdown();
  });

  it('fails on a critical check, warns on a non-critical one or an open circuit', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    const health = new HealthReporter('gateway', '1', circuits);
    health.addCheck({ name: 'users:health', componentType: 'component', critical: false, probe: () => Promise.reject(new Error('refused')) });
    expect((await health.report()).status).toBe('warn');
    expect((await health.report()).checks['users:health']![0]).toMatchObject({ status: 'fail', output: 'refused' });

    await circuits.get('upstream:users').run(() => Promise.reject(new Error('x'))).catch(() => undefined);
    const withOpen = await health.report();
    expect(withOpen.status).toBe('warn');
    expect(withOpen.circuits[0]).toMatchObject({ name: 'upstream:users', state: 'open' });

    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: () => Promise.reject(new Error('down')) });
    expect((await health.report()).status).toBe('fail');
    circuits.shutdown();
  });

  it('fails while shutting down so load balancers stop sending traffic', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    const health = new HealthReporter('svc', '1', circuits);
    health.markShuttingDown();
    expect((await health.report()).status).toBe('fail');
  });

  it('answers every caller within the window with one probe per dependency, and probes again after it', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    let clock = 0;
    const health = new HealthReporter('users', '1', circuits, { probeMaxAgeMs: 1_000, now: () => clock });
    const database = countedProbe();
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: database.probe });
    // Callers at once (the supervisor and the dashboard in the same second) join one probe.
    await Promise.all([health.report(), health.report(), health.report()]);
    expect(database.probes).toBe(1);
    database.down = true;
    clock = 999;
    expect((await health.report()).status).toBe('pass');
    expect(database.probes).toBe(1);
    clock = 1_000;
    const after = await health.report();
    expect(database.probes).toBe(2);
    expect(after.status).toBe('fail');
    expect(after.checks['postgres:connection']![0]).toMatchObject({ status: 'fail', output: 'connection refused' });
    circuits.shutdown();
  });

  it('reads the service\'s own state and its breakers fresh on every call', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    const health = new HealthReporter('notifications', '1', circuits, { probeMaxAgeMs: 60_000, now: () => 0 });
    let lag = 0;
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: async () => undefined });
    health.addCheck({
      name: 'kafka:consumer:notifications',
      componentType: 'component',
      report: () => ({ status: lag > 100 ? 'warn' : 'pass', observedValue: lag, observedUnit: 'records' }),
    });
    expect((await health.report()).status).toBe('pass');
    lag = 500;
    expect((await health.report()).checks['kafka:consumer:notifications']![0]).toMatchObject({ status: 'warn', observedValue: 500 });
    await circuits.get('postgres').run(() => Promise.reject(new Error('x'))).catch(() => undefined);
    expect((await health.report()).circuits[0]).toMatchObject({ name: 'postgres', state: 'open' });
    circuits.shutdown();
  });

  it('probes on every call with a window of 0, and forgets a removed check', async () => {
    const circuits = new CircuitRegistry(breakerOptions);
    const health = new HealthReporter('gateway', '1', circuits, { probeMaxAgeMs: 0, now: () => 0 });
    let probes = 0;
    const check = { name: 'users:health', componentType: 'component' as const, critical: false, probe: async () => void (probes += 1) };
    health.addCheck(check);
    await health.report();
    await health.report();
    expect(probes).toBe(2);
    health.removeCheck('users:health');
    expect((await health.report()).checks['users:health']).toBeUndefined();
    expect(probes).toBe(2);
    circuits.shutdown();
  });

  it('stops reusing a pass once a breaker sees a call fail, and never reuses a failure', async () => {
    const circuits = new CircuitRegistry({ ...breakerOptions, volumeThreshold: 5 });
    const health = new HealthReporter('users', '1', circuits, { probeMaxAgeMs: 60_000, now: () => 0 });
    const database = countedProbe();
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: database.probe });
    expect((await health.report()).status).toBe('pass');
    await health.report();
    expect(database.probes).toBe(1);
    // The database went away: a query through the breaker fails before the next /health.
    database.down = true;
    await circuits.get('postgres').run(() => Promise.reject(new Error('connection refused'))).catch(() => undefined);
    expect((await health.report()).status).toBe('fail');
    expect(database.probes).toBe(2);
    expect((await health.report()).status).toBe('fail');
    expect(database.probes).toBe(3);
    // It is back: the next call says so.
    database.down = false;
    expect((await health.report()).checks['postgres:connection']![0]!.status).toBe('pass');
    circuits.shutdown();
  });
});
