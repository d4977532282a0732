import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { msctl } from '../support/cli';
import { drained } from '../support/lag';
import { startTestStack, type TestStack } from './stack';

let stack: TestStack;
const suffix = uniqueSuffix();
const username = `ada_${suffix}`;
const password = 'correct horse battery staple';
const clicked = `t${suffix}.clicked`;
const viewed = `t${suffix}.viewed`;
let userId: string;
let token: string;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const api = async (method: string, path: string, body?: unknown, bearer: string | null = token) => {
  const response = await fetch(`${stack.gateway.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

describe('the whole system through the gateway', () => {
  it('signs up a user and issues a token for the right password only', async () => {
    const signUp = await api('POST', '/api/users', { username, email: `${username}@example.test`, password, displayName: 'Ada' }, null);
    expect(signUp.status).toBe(201);
    userId = String(signUp.body.id);
    const wrong = await api('POST', '/api/auth/token', { username, password: 'wrong password!' }, null);
    expect(wrong.status).toBe(401);
    const login = await api('POST', '/api/auth/token', { username, password }, null);
    expect(login.status).toBe(200);
    token = String(login.body.accessToken);
    const me = await api('GET', '/api/users/me');
    expect(me).toMatchObject({ status: 200, body: { id: userId, username } });
  });

  it('refuses every protected route without a token', async () => {
    for (const [method, path] of [
      ['GET', '/api/users/me'],
      ['POST', '/api/events'],
      ['GET', '/api/notifications'],
      ['GET', '/api/analytics/summary'],
    ] as const) {
      expect((await api(method, path, method === 'POST' ? { type: clicked, data: {} } : undefined, null)).status, `${method} ${path}`).toBe(401);
    }
  });

  it('accepts single and batch events only once Kafka acknowledged them', async () => {
    const single = await api('POST', '/api/events', { type: clicked, subject: userId, data: { button: 'buy' } });
    expect(single.status).toBe(202);
    expect(single.body.accepted).toBe(1);
    const batch = await api('POST', '/api/events', {
      events: [
        { type: clicked, subject: userId, data: { button: 'back' } },
        { type: clicked, subject: userId, data: { button: 'next' } },
        { type: viewed, subject: userId, data: { page: '/home' } },
      ],
    });
    expect(batch.status).toBe(202);
    expect(batch.body.accepted).toBe(3);
    expect(batch.body.ids as string[]).toHaveLength(3);
  });

  it('delivers the welcome notification caused by user.created', async () => {
    const notifications = await eventually(async () => {
      const response = await api('GET', '/api/notifications');
      const list = response.body.notifications as Array<{ kind: string; userId?: string; user_id?: string }> | undefined;
      return list?.some((n) => n.kind === 'welcome') ? list : undefined;
    }, 30_000, 'the welcome notification');
    expect(notifications.filter((n) => n.kind === 'welcome')).toHaveLength(1);
  });

  it('counts exactly the accepted events in analytics, and keeps counting them once', async () => {
    const expected = { [clicked]: 3, [viewed]: 1 };
    const counts = () =>
      api('GET', '/api/analytics/summary').then((response) => {
        const byType = response.body.byType as Record<string, number>;
        return { [clicked]: byType[clicked], [viewed]: byType[viewed] };
      });
    await eventually(async () => {
      const current = await counts();
      return current[clicked] === 3 && current[viewed] === 1 ? current : undefined;
    }, 30_000, 'analytics to count the accepted events');
    // Once analytics has committed everything, a redelivery (and a second count) is ruled out.
    await drained((args) => msctl(['topics', ...args, '--brokers', inject('kafkaBootstrap')]), `${stack.topicPrefix}analytics`);
    expect(await counts()).toEqual(expected);
  });

  it('publishes user.created as a CloudEvent keyed by the user id that kcat can read', async () => {
    const topic = `${stack.topicPrefix}users.events`;
    const { stdout } = await execa('kcat', ['-b', inject('kafkaBootstrap'), '-C', '-t', topic, '-o', 'beginning', '-e', '-q', '-J'], { timeout: 20_000 });
    const messages = stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { key: string; payload: string });
    const created = messages.map((m) => ({ key: m.key, event: JSON.parse(m.payload) as Record<string, unknown> })).find((m) => m.event.type === 'user.created' && m.event.subject === userId);
    expect(created).toBeDefined();
    expect(created!.key).toBe(userId);
    expect(created!.event).toMatchObject({ specversion: '1.0', source: '/users', subject: userId, data: { id: userId, username } });
    expect(JSON.stringify(created!.event)).not.toMatch(/scrypt|password/i);
  });
});
