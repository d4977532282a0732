import { describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { HealthReporter } from '../src/health';

const breakerOptions = { timeoutMs: 100, resetMs: 10_000, errorThresholdPercent: 50, volumeThreshold: 1 };

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
});
