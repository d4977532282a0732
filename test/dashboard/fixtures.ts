/** Fakes for the dashboard's unit tests: a stack status, /health answers and /metrics texts. */
import type { StackStatus, TargetStatus } from '../../src/runtime/types';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot';

export const target = (name: string, over: Partial<TargetStatus> = {}): TargetStatus => ({
  name,
  kind: ['kafka', 'postgres'].includes(name) ? 'infrastructure' : 'service',
  state: 'healthy',
  health: 'pass',
  pid: 1000 + name.length,
  port: 4000 + name.length,
  uptimeSeconds: 42,
  restarts: 0,
  lastExit: null,
  checks: {},
  circuits: {},
  problems: {},
  detail: null,
  ...over,
});

export const stackStatus = (targets: TargetStatus[]): StackStatus => ({
  runtime: 'local',
  project: '/tmp/shop',
  supervisor: { state: 'running', pid: 999 },
  healthy: targets.every((t) => t.state === 'healthy'),
  targets,
});

/** prom-client style metrics: `requests` requests of ~`seconds` each on one route, plus memory. */
export function metricsText(service: string, requests: number, seconds = 0.004, memory = 80 * 1024 * 1024): string {
  const les = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const lines = les.map((le) => `http_request_duration_seconds_bucket{le="${le}",method="GET",route="/x",status_code="200",service="${service}"} ${seconds <= le ? requests : 0}`);
  lines.push(`http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/x",status_code="200",service="${service}"} ${requests}`);
  lines.push(`http_request_duration_seconds_count{method="GET",route="/x",status_code="200",service="${service}"} ${requests}`);
  lines.push(`process_resident_memory_bytes{service="${service}"} ${memory}`);
  return lines.join('\n');
}

export const health = (status: string, circuits: Array<{ name: string; state: string; failures?: number; rejects?: number; retryInMs?: number }>) => ({
  status,
  checks: {},
  circuits: circuits.map((c) => ({ name: c.name, state: c.state, stats: { fires: 0, successes: 0, failures: c.failures ?? 0, timeouts: 0, rejects: c.rejects ?? 0 }, ...(c.retryInMs !== undefined ? { retryInMs: c.retryInMs } : {}) })),
});

/** A ready-made snapshot for the view tests. */
export function snapshot(over: Partial<DashboardSnapshot> = {}): DashboardSnapshot {
  const service = (name: string, extra: Partial<DashboardSnapshot['services'][number]> = {}): DashboardSnapshot['services'][number] => ({
    name,
    kind: 'service',
    runtime: 'local',
    state: 'healthy',
    supervisorState: 'healthy',
    health: 'pass',
    pid: 1234,
    port: 4001,
    uptimeSeconds: 125,
    restarts: 0,
    requestsPerSecond: 12.5,
    p99Ms: 8.25,
    memoryBytes: 85 * 1024 * 1024,
    groups: [],
    detail: null,
    ...extra,
  });
  const infra = (name: string): DashboardSnapshot['services'][number] => service(name, { kind: 'infrastructure', requestsPerSecond: null, p99Ms: null, memoryBytes: null, uptimeSeconds: 300 });
  return {
    slowestTraces: [],
    consumers: [],
    at: '2025-01-01T13:02:11.000Z',
    project: '/tmp/shop',
    supervisor: 'running',
    error: null,
    services: [
      infra('postgres'),
      infra('kafka'),
      service('users'),
      service('data-processing', { requestsPerSecond: 240, p99Ms: 31 }),
      service('notifications', { groups: ['notifications'] }),
      service('analytics', { groups: ['analytics'] }),
      service('gateway', { requestsPerSecond: 250, p99Ms: 45.2 }),
    ],
    breakers: [
      { service: 'users', name: 'postgres', state: 'closed', failures: 0, rejects: 0, retryInMs: null },
      { service: 'users', name: 'kafka', state: 'closed', failures: 0, rejects: 0, retryInMs: null },
      { service: 'gateway', name: 'users', state: 'closed', failures: 0, rejects: 0, retryInMs: null },
      { service: 'gateway', name: 'data-processing', state: 'closed', failures: 0, rejects: 0, retryInMs: null },
    ],
    kafka: {
      at: '2025-01-01T13:02:10.000Z',
      error: null,
      topics: [
        { topic: 'events.raw', partitions: 3, endOffset: 5000, messagesPerSecond: 240 },
        { topic: 'users.events', partitions: 3, endOffset: 12, messagesPerSecond: 0 },
      ],
      groups: [
        { group: 'analytics', lag: 0, partitions: [{ topic: 'events.processed', partition: 0, offset: 10, endOffset: 10, lag: 0 }] },
        {
          group: 'notifications',
          lag: 7,
          partitions: [
            { topic: 'users.events', partition: 0, offset: 3, endOffset: 10, lag: 7 },
            { topic: 'users.events', partition: 1, offset: 2, endOffset: 2, lag: 0 },
          ],
        },
      ],
    },
    changes: [],
    ...over,
  };
}
