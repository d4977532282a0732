import { randomUUID } from 'node:crypto';
import { createCloudEvent, startService, type RunningService } from '@msctl/kit';
import { asCaller, eventually, testEnv } from '@msctl/kit/testing';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { notificationsService, type NotificationsConfig } from '../src/service';

interface Notification {
  id: string;
  eventId: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
  read: boolean;
}

let running: RunningService<NotificationsConfig>;
let producer: Producer;

const publish = async (logicalTopic: string, event: { subject: string }) => {
  await producer.send({
    topic: running.context.topic(logicalTopic),
    acks: -1,
    messages: [{ key: event.subject, value: JSON.stringify(event) }],
  });
};

/** The caller as the gateway vouches for it; null sends no assertion at all. */
const as = async (subject: string | undefined | null) => (subject === null ? {} : await asCaller('notifications', { subject }));

/** GET /notifications?query as `subject` (the logged-in user). */
const list = async (query: string, subject: string | undefined | null) => {
  const response = await fetch(`${running.url}/notifications?${query}`, { headers: await as(subject) });
  return { status: response.status, body: (await response.json()) as { notifications: Notification[] } & { error?: string } };
};

const markRead = async (id: string, subject: string | undefined | null) =>
  fetch(`${running.url}/notifications/${id}/read`, { method: 'POST', headers: await as(subject) });

const userCreated = (userId: string, data: Record<string, unknown>, id = randomUUID()) =>
  createCloudEvent({ id, type: 'user.created', source: '/users', subject: userId, data: { id: userId, ...data } });

beforeAll(async () => {
  running = await startService(notificationsService, {
    env: testEnv('notifications', { extra: { NOTIFY_EVENT_TYPES: 'alert.triggered, payment.failed,order.*' } }),
  });
  await running.consumersReady;
  producer = new Kafka({ clientId: 'notifications-test', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
});

afterAll(async () => {
  await producer?.disconnect();
  await running?.close();
});

describe('notifications', () => {
  it('welcomes a created user exactly once, even when the event is delivered twice', async () => {
    const userId = `u-${randomUUID()}`;
    const event = userCreated(userId, { username: 'ada', displayName: 'Ada Lovelace' });
    await publish('users.events', event);
    const first = await eventually(async () => {
      const { body } = await list('', userId);
      return body.notifications.length > 0 ? body.notifications : undefined;
    }, 20_000, 'the welcome notification');
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ userId, kind: 'welcome', title: 'Welcome, Ada Lovelace!', eventId: event.id, read: false, readAt: null });

    // the same event again (same id), then a marker event behind it on the same partition (same key)
    await publish('users.events', event);
    const marker = createCloudEvent({ type: 'order.shipped', source: '/orders', subject: userId, data: { message: 'on its way' } });
    await producer.send({ topic: running.context.topic('events.processed'), acks: -1, messages: [{ key: userId, value: JSON.stringify(marker) }] });
    // wait until the group has committed past the duplicate on users.events
    const admin = new Kafka({ brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topic = running.context.topic('users.events');
      await eventually(async () => {
        const ends = await admin.fetchTopicOffsets(topic);
        const [committed] = await admin.fetchOffsets({ groupId: running.context.topic('notifications'), topics: [topic] });
        const lag = ends.reduce((sum, end) => {
          const c = committed?.partitions.find((p) => p.partition === end.partition);
          return sum + Number(end.offset) - Math.max(0, Number(c?.offset ?? 0));
        }, 0);
        return lag === 0 ? true : undefined;
      }, 20_000, 'the duplicate consumed');
    } finally {
      await admin.disconnect();
    }
    const after = await eventually(async () => {
      const { body } = await list('', userId);
      return body.notifications.length >= 2 ? body.notifications : undefined;
    }, 20_000, 'the marker notification');
    expect(after.filter((n) => n.kind === 'welcome')).toHaveLength(1);
    expect(after[0]).toMatchObject({ kind: 'order.shipped', body: 'on its way' }); // newest first
  });

  it('falls back to the username in the welcome', async () => {
    const userId = `u-${randomUUID()}`;
    await publish('users.events', userCreated(userId, { username: 'grace' }));
    const found = await eventually(async () => (await list('', userId)).body.notifications[0], 20_000, 'welcome');
    expect(found.title).toBe('Welcome, grace!');
  });

  it('notifies the subject of a configured events.processed type, and only of configured types', async () => {
    const userId = `u-${randomUUID()}`;
    const ignored = createCloudEvent({ type: 'page.viewed', source: '/t', subject: userId, data: {} });
    const ignoredToo = createCloudEvent({ type: 'alert.cleared', source: '/t', subject: userId, data: {} });
    const alert = createCloudEvent({ type: 'alert.triggered', source: '/t', subject: userId, data: { message: 'CPU at 99%' } });
    const shipped = createCloudEvent({ type: 'order.delivered', source: '/t', subject: userId, data: {} }); // matches order.*
    await producer.send({
      topic: running.context.topic('events.processed'),
      acks: -1,
      messages: [ignored, ignoredToo, alert, shipped].map((e) => ({ key: userId, value: JSON.stringify(e) })),
    });
    const found = await eventually(async () => {
      const { body } = await list('', userId);
      return body.notifications.length >= 2 ? body.notifications : undefined;
    }, 20_000, 'two notifications');
    // the four events share a key, so they were consumed in order in one go: nothing else will come
    expect(found.map((n) => n.kind).sort()).toEqual(['alert.triggered', 'order.delivered']);
    expect(found.find((n) => n.kind === 'alert.triggered')).toMatchObject({ eventId: alert.id, body: 'CPU at 99%', data: { message: 'CPU at 99%' } });
    expect(found.map((n) => n.eventId)).not.toContain(ignored.id);
    expect(found.map((n) => n.eventId)).not.toContain(ignoredToo.id);
  });

  it("serves only the caller's own notifications, and lets them mark them read", async () => {
    const owner = `u-${randomUUID()}`;
    const other = `u-${randomUUID()}`;
    await publish('users.events', userCreated(owner, { username: 'owner' }));
    const mine = await eventually(async () => (await list('', owner)).body.notifications[0], 20_000, 'welcome');

    expect((await list('', owner)).body.notifications.map((n) => n.id)).toEqual([mine.id]);
    expect((await list(`userId=${owner}`, owner)).status).toBe(200);
    const denied = await list(`userId=${owner}`, other);
    expect(denied.status).toBe(403);
    expect(denied.body.notifications).toBeUndefined();
    expect((await list('', other)).body.notifications).toEqual([]);

    const markAsOther = await markRead(mine.id, other);
    expect(markAsOther.status).toBe(403);
    expect((await list('unreadOnly=true', owner)).body.notifications).toHaveLength(1);

    const mark = await markRead(mine.id, owner);
    expect(mark.status).toBe(200);
    const marked = ((await mark.json()) as { notification: Notification }).notification;
    expect(marked.read).toBe(true);
    expect((await list('unreadOnly=true', owner)).body.notifications).toEqual([]);
    expect((await list('unreadOnly=false', owner)).body.notifications[0]!.read).toBe(true);

    expect((await markRead(randomUUID(), owner)).status).toBe(404);
  });

  it('answers 401 with nobody logged in, and to a request without the gateway assertion', async () => {
    const owner = `u-${randomUUID()}`;
    await publish('users.events', userCreated(owner, { username: 'owner' }));
    const mine = await eventually(async () => (await list('', owner)).body.notifications[0], 20_000, 'welcome');
    for (const subject of [undefined, null]) {
      // Naming the user in the query is no way in: the caller is who the assertion says.
      const listed = await list(`userId=${owner}`, subject);
      expect(listed.status).toBe(401);
      expect(listed.body.notifications).toBeUndefined();
      expect((await markRead(mine.id, subject)).status).toBe(401);
    }
    expect((await list('unreadOnly=true', owner)).body.notifications.map((n) => n.id)).toEqual([mine.id]);
  });

  it('rejects bad queries with 400', async () => {
    expect((await list('limit=0', 'x')).status).toBe(400);
    expect((await list('limit=abc', 'x')).status).toBe(400);
    expect((await list('unreadOnly=maybe', 'x')).status).toBe(400);
    expect((await markRead('not-a-uuid', 'x')).status).toBe(400);
  });
});
