import { describe, expect, it } from 'vitest';
import type { KafkaOffsetsReading } from '../../src/infra/kafka/client';
import { DashboardPoller, type FetchLike } from '../../src/dashboard/poller';
import { health, metricsText, stackStatus, target } from './fixtures';
import type { StackStatus } from '../../src/runtime/types';
import { sleep } from '../../src/core/sleep';

/** A fake world: the status, each port's /health and /metrics, Kafka offsets, and a clock. */
function world() {
  let now = Date.parse('2025-01-01T13:02:10Z');
  const state = {
    status: stackStatus([target('postgres'), target('kafka'), target('users', { port: 4101 }), target('gateway', { port: 4100 })]) as StackStatus,
    health: new Map<number, unknown>([
      [4101, health('pass', [{ name: 'postgres', state: 'closed' }])],
      [4100, health('pass', [{ name: 'users', state: 'closed' }])],
    ]),
    metrics: new Map<number, string>([
      [4101, metricsText('users', 0)],
      [4100, metricsText('gateway', 0)],
    ]),
    down: new Set<number>(),
    kafka: { topics: [{ topic: 'events.raw', partitions: [{ partition: 0, high: 100 }, { partition: 1, high: 50 }] }], groups: [] } as KafkaOffsetsReading,
    urls: [] as string[],
    kafkaReads: 0,
  };
  const fetch: FetchLike = async (url) => {
    state.urls.push(url);
    const port = Number(new URL(url).port);
    if (state.down.has(port)) throw new Error('ECONNREFUSED');
    const body = new URL(url).pathname === '/metrics' ? state.metrics.get(port) : JSON.stringify(state.health.get(port));
    if (body === undefined) throw new Error('ECONNREFUSED');
    return { ok: true, status: 200, text: async () => body };
  };
  const poller = new DashboardPoller({
    status: async () => state.status,
    fetch,
    kafka: {
      read: async () => {
        state.kafkaReads++;
        return state.kafka;
      },
    },
    now: () => now,
    intervalMs: 1_000,
    kafkaIntervalMs: 2_000,
  });
  return { state, poller, advance: (ms: number) => (now += ms) };
}

describe('DashboardPoller', () => {
  it('polls each running service’s /health and /metrics (only the families it reads), not the infrastructure, and reads Kafka every 2 s', async () => {
    const { state, poller, advance } = world();
    const first = await poller.tick();
    const metrics = '/metrics?name=http_request_duration_seconds&name=process_resident_memory_bytes&name=kafka_messages_consumed_total';
    expect(state.urls.sort()).toEqual(['http://127.0.0.1:4100/health', `http://127.0.0.1:4100${metrics}`, 'http://127.0.0.1:4101/health', `http://127.0.0.1:4101${metrics}`]);
    expect(first.services.map((s) => [s.name, s.state])).toEqual([
      ['postgres', 'healthy'],
      ['kafka', 'healthy'],
      ['users', 'healthy'],
      ['gateway', 'healthy'],
    ]);
    expect(first.services.find((s) => s.name === 'users')?.memoryBytes).toBe(80 * 1024 * 1024);
    expect(first.kafka.topics).toEqual([{ topic: 'events.raw', partitions: 2, endOffset: 150, messagesPerSecond: null }]);
    advance(1_000);
    await poller.tick();
    expect(state.kafkaReads).toBe(1);
    advance(1_000);
    await poller.tick();
    expect(state.kafkaReads).toBe(2);
  });

  it('computes requests/s and p99 over the last interval, and messages/s per topic from end offsets', async () => {
    const { state, poller, advance } = world();
    await poller.tick();
    advance(2_000);
    state.metrics.set(4100, metricsText('gateway', 50, 0.04));
    state.kafka = { topics: [{ topic: 'events.raw', partitions: [{ partition: 0, high: 300 }, { partition: 1, high: 250 }] }], groups: [] };
    const snap = await poller.tick();
    const gateway = snap.services.find((s) => s.name === 'gateway')!;
    expect(gateway.requestsPerSecond).toBe(25);
    expect(gateway.p99Ms).toBeGreaterThan(25);
    expect(gateway.p99Ms).toBeLessThanOrEqual(50);
    expect(snap.services.find((s) => s.name === 'users')?.requestsPerSecond).toBe(0);
    expect(snap.kafka.topics[0]?.messagesPerSecond).toBe(200); // 400 messages in 2 s
  });

  it('computes group lag per partition from committed offsets and end offsets', async () => {
    const { state, poller } = world();
    state.kafka = {
      topics: [{ topic: 'users.events', partitions: [{ partition: 0, high: 10 }, { partition: 1, high: 4 }] }],
      groups: [
        { groupId: 'notifications', offsets: [{ topic: 'users.events', partition: 0, offset: 3 }, { topic: 'users.events', partition: 1, offset: 4 }] },
        { groupId: 'idle', offsets: [] },
      ],
    };
    const snap = await poller.tick();
    expect(snap.kafka.groups).toEqual([
      {
        group: 'notifications',
        lag: 7,
        partitions: [
          { topic: 'users.events', partition: 0, offset: 3, endOffset: 10, lag: 7 },
          { topic: 'users.events', partition: 1, offset: 4, endOffset: 4, lag: 0 },
        ],
      },
    ]);
  });

  it('shows an open breaker with failures, rejects and the time until half-open, a degraded service, and records the changes with their time', async () => {
    const { state, poller, advance } = world();
    await poller.tick();
    advance(1_000);
    state.health.set(4101, health('fail', [{ name: 'postgres', state: 'open', failures: 5, rejects: 3, retryInMs: 2_500 }]));
    const snap = await poller.tick();
    expect(snap.breakers.find((b) => b.service === 'users')).toEqual({ service: 'users', name: 'postgres', state: 'open', failures: 5, rejects: 3, retryInMs: 2_500 });
    expect(snap.services.find((s) => s.name === 'users')?.state).toBe('unhealthy');
    expect(snap.changes).toEqual([
      { at: '2025-01-01T13:02:11.000Z', text: 'users unhealthy' },
      { at: '2025-01-01T13:02:11.000Z', text: 'users circuit postgres OPEN' },
    ]);
    advance(1_000);
    state.health.set(4101, health('warn', [{ name: 'postgres', state: 'half-open' }]));
    const later = await poller.tick();
    expect(later.services.find((s) => s.name === 'users')?.state).toBe('degraded');
    expect(later.changes.map((c) => c.text).slice(-2)).toEqual(['users degraded', 'users circuit postgres HALF-OPEN']);
  });

  it('shows a consumer that stalls, says so once in the recent changes with partition, offset and reason, then its dead letter and recovery', async () => {
    const { state, poller, advance } = world();
    const consumerCheck = (status: string, extra: object = {}) => ({
      ...health(status === 'pass' ? 'pass' : 'warn', [{ name: 'postgres', state: 'closed' }]),
      checks: { 'kafka:consumer:notifications': [{ status, observedValue: 50, observedUnit: 'records', deadLetters5m: 0, ...extra }] },
    });
    state.health.set(4101, consumerCheck('pass', { observedValue: 0 }));
    await poller.tick();
    advance(1_000);
    const stalled = 'stalled on events.processed[0] at offset 28350 for 31 s: invalid byte sequence for encoding "UTF8": 0x00';
    state.health.set(4101, consumerCheck('warn', { output: stalled }));
    const snap = await poller.tick();
    expect(snap.consumers).toEqual([{ service: 'users', group: 'notifications', status: 'warn', lag: 50, output: stalled, deadLetters5m: 0 }]);
    expect(snap.changes.map((c) => c.text)).toContain(`users consumer ${stalled}`);
    advance(1_000);
    state.health.set(4101, consumerCheck('warn', { output: stalled.replace('31 s', '32 s') }));
    expect((await poller.tick()).changes.filter((c) => c.text.includes('stalled'))).toHaveLength(1);
    advance(1_000);
    state.health.set(4101, consumerCheck('pass', { observedValue: 0, deadLetters5m: 1 }));
    const after = await poller.tick();
    expect(after.changes.map((c) => c.text).slice(-2)).toEqual(['users consumer notifications moving again', 'users dead-lettered 1 record (notifications): msctl topics dlq']);
  });

  it('a service that does not answer keeps the supervisor’s word; a stopped one is not polled', async () => {
    const { state, poller } = world();
    state.down.add(4101);
    state.status = stackStatus([target('postgres', { state: 'failed', pid: null }), target('kafka'), target('users', { port: 4101, state: 'restarting', pid: null, restarts: 2 }), target('gateway', { port: 4100, circuits: { users: 'open' } })]);
    state.health.delete(4100);
    const snap = await poller.tick();
    expect(snap.services.map((s) => s.state)).toEqual(['failed', 'healthy', 'restarting', 'healthy']);
    expect(state.urls.some((url) => url.includes(':4101'))).toBe(false);
    // /health of the gateway did not answer: its breakers come from the supervisor's status.
    expect(snap.breakers).toEqual([{ service: 'gateway', name: 'users', state: 'open', failures: null, rejects: null, retryInMs: null }]);
  });

  it('snapshots are immutable, published to subscribers, and a failed status poll keeps the last rows with the error', async () => {
    const { poller } = world();
    const seen: number[] = [];
    poller.subscribe((s) => seen.push(s.services.length));
    const snap = await poller.tick();
    expect(Object.isFrozen(snap)).toBe(true);
    expect(Object.isFrozen(snap.services[0])).toBe(true);
    expect(() => (snap.services as unknown[]).push(1)).toThrow();
    expect(seen.length).toBeGreaterThan(0);
    const broken = new DashboardPoller({ status: async () => Promise.reject(new Error('state file is corrupt')), fetch: async () => Promise.reject(new Error('x')) });
    expect((await broken.tick()).error).toBe('state file is corrupt');
  });

  it('an unreachable Kafka is an error in the Kafka panel, not a failed poll', async () => {
    const poller = new DashboardPoller({
      status: async () => stackStatus([target('kafka', { state: 'stopped', pid: null })]),
      fetch: async () => Promise.reject(new Error('x')),
      kafka: { read: async () => Promise.reject(new Error('Connection timeout')) },
    });
    const snap = await poller.tick();
    expect(snap.kafka.error).toBe('Connection timeout');
    expect(snap.services[0]?.state).toBe('stopped');
  });

  it('an unchanged part of the stack keeps its object from one snapshot to the next, so the view can skip it', async () => {
    const { state, poller, advance } = world();
    const first = await poller.tick();
    advance(1_000);
    const second = await poller.tick();
    expect(second.at).not.toBe(first.at);
    expect(second.breakers).toBe(first.breakers);
    expect(second.consumers).toBe(first.consumers);
    advance(1_000);
    state.health.set(4101, health('fail', [{ name: 'postgres', state: 'open', failures: 1 }]));
    const third = await poller.tick();
    expect(third.breakers).not.toBe(second.breakers);
    expect(third.breakers.find((b) => b.service === 'users')?.state).toBe('open');
  });

  it('a Kafka reading that changes nothing shown does not wake the view; one that does, does', async () => {
    const { state, poller, advance } = world();
    let woken = 0;
    poller.subscribe(() => woken++);
    await poller.tick(); // offsets read: the Kafka panel fills
    advance(2_000);
    await poller.tick(); // read again: the rates are known now (0 msg/s)
    advance(2_000);
    woken = 0;
    expect((await poller.tick()).kafka.at).toBe('2025-01-01T13:02:14.000Z');
    expect(state.kafkaReads).toBe(3);
    expect(woken).toBe(1); // the services' poll only: the offsets did not move
    advance(2_000);
    state.kafka = { topics: [{ topic: 'events.raw', partitions: [{ partition: 0, high: 300 }, { partition: 1, high: 50 }] }], groups: [] };
    woken = 0;
    expect((await poller.tick()).kafka.topics[0]?.endOffset).toBe(350);
    expect(woken).toBe(2);
  });

  it('the slowest traces do not wake the view again while they stay the same', async () => {
    const traces = [{ traceId: 'a', root: 'gateway: GET /x', durationMs: 12, services: ['gateway'] }];
    let reads = 0;
    let now = 0;
    const poller = new DashboardPoller({
      status: async () => stackStatus([]),
      traces: async () => {
        reads++;
        return traces;
      },
      now: () => now,
      tracesIntervalMs: 5_000,
    });
    const woken: number[] = [];
    poller.subscribe((s) => woken.push(s.slowestTraces.length));
    const settle = () => sleep(0);
    await poller.tick();
    await settle();
    now += 5_000;
    await poller.tick();
    await settle();
    expect(reads).toBe(2);
    // One frame per poll of the services, and one for the traces when they first came.
    expect(woken).toHaveLength(3);
    expect(woken.at(-1)).toBe(1);
  });

  it('note() adds a timestamped line to the recent changes (restart progress)', async () => {
    const { poller } = world();
    poller.note('restart users: requested');
    expect(poller.getSnapshot().changes).toEqual([{ at: '2025-01-01T13:02:10.000Z', text: 'restart users: requested' }]);
  });
});

describe('slowest trace per service', () => {
  it('keeps, for every service, the longest trace it took part in', async () => {
    const { slowestPerService } = await import('../../src/dashboard/snapshot');
    const traces = [
      { traceId: 'a', root: 'gateway: GET /api/users/me', durationMs: 12, services: ['gateway', 'users'] },
      { traceId: 'b', root: 'gateway: POST /api/users', durationMs: 180, services: ['gateway', 'users', 'notifications'] },
      { traceId: 'c', root: 'gateway: POST /api/events', durationMs: 40, services: ['gateway', 'data-processing', 'analytics'] },
    ];
    expect(slowestPerService(traces).map((t) => [t.service, t.traceId])).toEqual([
      ['analytics', 'c'],
      ['data-processing', 'c'],
      ['gateway', 'b'],
      ['notifications', 'b'],
      ['users', 'b'],
    ]);
    expect(slowestPerService([])).toEqual([]);
  });
});
