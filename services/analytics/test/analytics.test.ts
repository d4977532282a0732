import { randomUUID } from 'node:crypto';
import { DLQ_HEADERS, createCloudEvent, startService, type CloudEvent, type RunningService } from '@msctl/kit';
import { asCaller, eventually, kafkaClients, testEnv, type KafkaClients } from '@msctl/kit/testing';
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import migration002 from '../src/migrations/002_last_seen.sql?raw';
import { analyticsService, type AnalyticsConfig } from '../src/service';

interface Summary {
  totalEvents: number;
  byType: Record<string, number>;
  activeUsers: { last5Minutes: number; last1Hour: number; total: number };
  from: string | null;
  to: string | null;
}

let running: RunningService<AnalyticsConfig>;
let clients: KafkaClients | undefined;
let producer: Producer;
let admin: Admin;

const produce = async (logicalTopic: string, events: CloudEvent[]) => {
  await producer.send({
    topic: running.context.topic(logicalTopic),
    acks: -1,
    messages: events.map((event) => ({ key: event.subject ?? null, value: JSON.stringify(event) })),
  });
};

/** GET as a logged-in user by default; `caller` null sends no assertion at all. */
const get = async <T>(path: string, caller: { subject?: string } | null = { subject: 'analyst' }) => {
  const response = await fetch(`${running.url}${path}`, { headers: caller === null ? {} : await asCaller('analytics', caller) });
  return { status: response.status, body: (await response.json()) as T };
};

const summary = async (query = '') => (await get<Summary>(`/analytics/summary${query}`)).body;

/** Waits until the analytics group has committed everything produced to the topic so far. */
const caughtUp = async (logicalTopic: string) => {
  const topic = running.context.topic(logicalTopic);
  await eventually(async () => {
    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId: running.context.topic('analytics'), topics: [topic] });
    const lag = ends.reduce((sum, end) => {
      const c = committed?.partitions.find((p) => p.partition === end.partition);
      return sum + Number(end.offset) - Math.max(0, Number(c?.offset ?? 0));
    }, 0);
    return lag === 0 ? true : undefined;
  }, 20_000, `the group caught up on ${logicalTopic}`);
};

const uniqueType = (what: string) => `test.${what}.${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  running = await startService(analyticsService, { env: testEnv('analytics') });
  await running.consumersReady;
  clients = await kafkaClients('analytics-test');
  ({ producer, admin } = clients);
});

afterAll(async () => {
  await clients?.close();
  await running?.close();
});

describe('analytics', () => {
  it('counts N distinct events exactly once, even when they are delivered again', async () => {
    const typeA = uniqueType('a');
    const typeB = uniqueType('b');
    const events = [
      ...Array.from({ length: 7 }, (_, i) => createCloudEvent({ type: typeA, source: '/t', subject: `user-${i % 3}`, data: {} })),
      ...Array.from({ length: 5 }, (_, i) => createCloudEvent({ type: typeB, source: '/t', subject: `order-${i}`, data: {} })),
    ];
    // spread over keys (and so partitions) and two sends
    await produce('events.processed', events.slice(0, 6));
    await produce('events.processed', events.slice(6));
    const first = await eventually(async () => {
      const s = await summary();
      return s.byType[typeA] === 7 && s.byType[typeB] === 5 ? s : undefined;
    }, 20_000, 'the counts');
    expect(first.totalEvents).toBeGreaterThanOrEqual(12);

    // the same events again (same ids), plus one new event of typeA behind them
    await produce('events.processed', events);
    const extra = createCloudEvent({ type: typeA, source: '/t', subject: 'user-0', data: {} });
    await produce('events.processed', [extra]);
    await caughtUp('events.processed');
    const after = await summary();
    expect(after.byType[typeA]).toBe(8);
    expect(after.byType[typeB]).toBe(5);
    expect(after.totalEvents).toBe(first.totalEvents + 1);
  });

  it('buckets the timeseries by minute of the event time, and filters by from/to', async () => {
    const type = uniqueType('ts');
    const at = (time: string, subject = 'ts-user') => createCloudEvent({ type, source: '/t', subject, time, data: {} });
    await produce('events.processed', [
      at('2024-05-01T10:00:10Z', 'ts-user-1'),
      at('2024-05-01T10:00:59.999Z', 'ts-user-2'),
      at('2024-05-01T12:00:30+02:00', 'ts-user-1'), // 10:00:30Z
      at('2024-05-01T10:01:00Z', 'ts-user-3'),
      at('2024-05-01T10:05:00Z', 'ts-user-4'),
    ]);
    const series = await eventually(async () => {
      const { body } = await get<{ type: string; points: Array<{ bucket: string; count: number }> }>(`/analytics/timeseries?type=${type}`);
      return body.points.reduce((sum, p) => sum + p.count, 0) === 5 ? body : undefined;
    }, 20_000, 'the timeseries');
    expect(series.type).toBe(type);
    expect(series.points).toEqual([
      { bucket: '2024-05-01T10:00:00.000Z', count: 3 },
      { bucket: '2024-05-01T10:01:00.000Z', count: 1 },
      { bucket: '2024-05-01T10:05:00.000Z', count: 1 },
    ]);

    const from = encodeURIComponent('2024-05-01T10:01:00Z');
    const to = encodeURIComponent('2024-05-01T10:05:00Z');
    const window = await get<{ points: Array<{ bucket: string; count: number }> }>(`/analytics/timeseries?type=${type}&from=${from}&to=${to}`);
    expect(window.body.points).toEqual([{ bucket: '2024-05-01T10:01:00.000Z', count: 1 }]);

    // the summary over the same window: only these events, and the users active in it
    const ranged = await summary(`?from=${encodeURIComponent('2024-05-01T10:00:00Z')}&to=${to}`);
    expect(ranged.byType).toEqual({ [type]: 4 });
    expect(ranged.totalEvents).toBe(4);
    expect(ranged.activeUsers.total).toBe(3);
    expect(ranged.from).toBe('2024-05-01T10:00:00Z');
    const unknown = await get<{ points: unknown[] }>(`/analytics/timeseries?type=${uniqueType('none')}`);
    expect(unknown.body.points).toEqual([]);
  });

  it('counts active users from subjects, once per user, ignoring events about no user', async () => {
    const before = await summary();
    const type = uniqueType('active');
    const now = new Date().toISOString();
    const u1 = `u-${randomUUID()}`;
    const u2 = `u-${randomUUID()}`;
    const anonymous = createCloudEvent({ type, source: '/t', subject: 'x', time: now, data: {} });
    anonymous.subject = anonymous.id; // what data-processing does when an event names no user
    await produce('events.processed', [
      createCloudEvent({ type, source: '/t', subject: u1, time: now, data: {} }),
      createCloudEvent({ type, source: '/t', subject: u1, time: now, data: {} }),
      createCloudEvent({ type, source: '/t', subject: u2, time: now, data: {} }),
      anonymous,
    ]);
    const u3 = `u-${randomUUID()}`;
    const created = createCloudEvent({ type: 'user.created', source: '/users', subject: u3, data: { id: u3, username: 'c' } });
    await produce('users.events', [created]);

    const after = await eventually(async () => {
      const s = await summary();
      return s.byType[type] === 4 && (s.byType['user.created'] ?? 0) === (before.byType['user.created'] ?? 0) + 1 ? s : undefined;
    }, 20_000, 'the activity');
    expect(after.activeUsers.last5Minutes).toBe(before.activeUsers.last5Minutes + 3);
    expect(after.activeUsers.last1Hour).toBe(before.activeUsers.last1Hour + 3);
    expect(after.activeUsers.total).toBe(before.activeUsers.total + 3);
  });

  it("keeps a user's latest minute when an older event of theirs arrives later", async () => {
    const before = await summary();
    const type = uniqueType('late');
    const user = `u-${randomUUID()}`;
    await produce('events.processed', [createCloudEvent({ type, source: '/t', subject: user, time: new Date().toISOString(), data: {} })]);
    await eventually(async () => ((await summary()).byType[type] === 1 ? true : undefined), 20_000, 'the recent event');
    const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
    await produce('events.processed', [createCloudEvent({ type, source: '/t', subject: user, time: twoHoursAgo, data: {} })]);
    const after = await eventually(async () => {
      const s = await summary();
      return s.byType[type] === 2 ? s : undefined;
    }, 20_000, 'the late event');
    expect(after.activeUsers.last5Minutes).toBe(before.activeUsers.last5Minutes + 1);
    expect(after.activeUsers.last1Hour).toBe(before.activeUsers.last1Hour + 1);
    expect(after.activeUsers.total).toBe(before.activeUsers.total + 1);
  });

  it('counts the users of activity recorded before the last-seen table existed', async () => {
    const db = running.context.db!;
    const user = `u-${randomUUID()}`;
    // Activity as an earlier version wrote it: minutes, and no last-seen row.
    await db.query(`INSERT INTO user_activity (user_id, bucket) VALUES ($1, date_trunc('minute', now(), 'UTC')), ($1, date_trunc('minute', now() - interval '3 hours', 'UTC'))`, [user]);
    const before = await summary();
    await db.query(migration002);
    const after = await summary();
    expect(after.activeUsers.last5Minutes).toBe(before.activeUsers.last5Minutes + 1);
    expect(after.activeUsers.total).toBe(before.activeUsers.total + 1);
    const { rows } = await db.query<{ recent: boolean }>(`SELECT bucket >= now() - interval '5 minutes' AS recent FROM user_last_seen WHERE user_id = $1`, [user]);
    expect(rows).toEqual([{ recent: true }]);
  });

  it('sets aside an event PostgreSQL refuses in events.processed.dlq, and counts the events around it once', async () => {
    const type = uniqueType('poison');
    const good = (n: number) => Array.from({ length: n }, () => createCloudEvent({ type, source: '/t', subject: 'poison-user', data: {} }));
    const poison = createCloudEvent({ type, source: '/t', subject: 'a\u0000b', data: {} });
    const [before, after] = [good(5), good(5)];
    // One key, so one partition and one batch: the statement fails for the batch, then for the poison alone.
    await producer.send({
      topic: running.context.topic('events.processed'),
      acks: -1,
      messages: [...before, poison, ...after].map((event) => ({ key: 'poison-user', value: JSON.stringify(event) })),
    });
    await eventually(async () => ((await summary()).byType[type] === 10 ? true : undefined), 30_000, 'the events around the poison counted');
    await caughtUp('events.processed');

    const letters: Array<{ value: string; headers: Record<string, string> }> = [];
    const collector = clients!.kafka.consumer({ groupId: `collector-${randomUUID()}` });
    await collector.connect();
    try {
      await collector.subscribe({ topics: [`${running.context.topic('events.processed')}.dlq`], fromBeginning: true });
      await collector.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
          letters.push({ value: String(message.value), headers });
        },
      });
      const letter = await eventually(async () => letters.find((l) => l.value.includes(poison.id)), 30_000, 'the dead letter');
      expect(letter.headers).toMatchObject({ [DLQ_HEADERS.errorClass]: 'data', [DLQ_HEADERS.errorCode]: '22021' });
    } finally {
      await collector.disconnect();
    }
    expect((await summary()).byType[type]).toBe(10);
  });

  it('rejects bad queries with 400', async () => {
    for (const path of [
      '/analytics/summary?from=yesterday',
      '/analytics/summary?to=2024-13-01T00:00:00Z',
      `/analytics/summary?from=${encodeURIComponent('2024-05-02T00:00:00Z')}&to=${encodeURIComponent('2024-05-01T00:00:00Z')}`,
      '/analytics/timeseries',
      '/analytics/timeseries?type=',
      '/analytics/timeseries?type=a&from=1',
    ]) {
      const { status, body } = await get<{ error: string }>(path);
      expect(status, path).toBe(400);
      expect(body.error, path).toBe('bad_request');
    }
  });

  it('answers 401 with nobody logged in, and to a request without the gateway assertion', async () => {
    for (const path of ['/analytics/summary', `/analytics/timeseries?type=${uniqueType('auth')}`]) {
      for (const caller of [{}, null]) {
        const { status, body } = await get<{ error: string }>(path, caller);
        expect(status, path).toBe(401);
        expect(body.error, path).toBe('unauthorized');
      }
    }
    expect((await get('/analytics/summary')).status).toBe(200);
    expect((await fetch(`${running.url}/health`)).status).toBe(200);
  });
});
