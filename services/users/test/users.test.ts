import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AUTH_SUBJECT_HEADER, startService, verifyAccessToken, type CloudEvent, type RunningService } from '@msctl/kit';
import { TEST_JWT_SECRET, eventually, testEnv, uniqueSuffix } from '@msctl/kit/testing';
import { usersService, type UsersConfig } from '../src/service';

interface SeenMessage {
  key: string | null;
  partition: number;
  offset: number;
  event: CloudEvent;
  raw: string;
}

let running: RunningService<UsersConfig>;
let consumer: Consumer;
const seen: SeenMessage[] = [];

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${running.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

const asUser = (id: string) => ({ [AUTH_SUBJECT_HEADER]: id });

function newUser(overrides: Record<string, unknown> = {}) {
  const suffix = uniqueSuffix();
  return { username: `user_${suffix}`, email: `user.${suffix}@example.com`, password: 'a-good-password', displayName: `User ${suffix}`, ...overrides };
}

async function signUp(input = newUser()) {
  const response = await call('POST', '/users', input);
  expect(response.status, response.text).toBe(201);
  return response.body as { id: string; username: string; email: string; displayName: string | null; version: number };
}

const eventsFor = (key: string) => seen.filter((message) => message.key === key);

beforeAll(async () => {
  const env = testEnv('users');
  running = await startService(usersService, { env });
  await running.consumersReady;
  const kafka = new Kafka({ clientId: 'users-test', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: `users-test-${uniqueSuffix()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: `${env.KAFKA_TOPIC_PREFIX}users.events`, fromBeginning: true });
  let joined: () => void = () => undefined;
  const hasJoined = new Promise<void>((resolve) => (joined = resolve));
  consumer.on(consumer.events.GROUP_JOIN, () => joined());
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const raw = message.value?.toString('utf8') ?? '';
      seen.push({ key: message.key?.toString('utf8') ?? null, partition, offset: Number(message.offset), event: JSON.parse(raw), raw });
    },
  });
  await hasJoined;
});

afterAll(async () => {
  await consumer?.disconnect();
  await running?.close();
});

describe('sign-up', () => {
  it('creates a user: 201 with the user, never the password or its hash', async () => {
    const input = newUser({ username: `Mixed_${uniqueSuffix()}`, email: `Mixed.${uniqueSuffix()}@Example.COM` });
    const response = await call('POST', '/users', input);
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      username: input.username.toLowerCase(),
      email: input.email.toLowerCase(),
      displayName: input.displayName,
      version: 1,
    });
    expect(response.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.text).not.toContain('scrypt$');
    expect(response.text).not.toContain(input.password);
    expect(response.text).not.toMatch(/password/i);
    expect(response.headers.get('location')).toBe(`/users/${response.body.id}`);

    const fetched = await call('GET', `/users/${response.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(response.body);
  });

  it('refuses a duplicate username (case-insensitively) with 409 naming the field', async () => {
    const first = await signUp();
    const response = await call('POST', '/users', newUser({ username: first.username.toUpperCase() }));
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({ error: 'conflict', details: { field: 'username' } });
  });

  it('refuses a duplicate email (case-insensitively) with 409 naming the field', async () => {
    const first = await signUp();
    const response = await call('POST', '/users', newUser({ email: first.email.toUpperCase() }));
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({ error: 'conflict', details: { field: 'email' } });
  });

  it('refuses invalid input with 400 and says which fields are wrong', async () => {
    const response = await call('POST', '/users', {
      username: 'a!',
      email: 'not-an-email',
      password: 'short',
      displayName: 'x'.repeat(101),
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('bad_request');
    const paths = (response.body.details as Array<{ path: string }>).map((detail) => detail.path).sort();
    expect(paths).toEqual(expect.arrayContaining(['displayName', 'email', 'password', 'username']));

    for (const bad of [
      newUser({ username: 'ab' }),
      newUser({ username: 'x'.repeat(33) }),
      newUser({ password: 'p'.repeat(129) }),
      newUser({ email: undefined }),
    ]) {
      expect((await call('POST', '/users', bad)).status).toBe(400);
    }
    expect((await call('POST', '/users', 'just a string')).status).toBe(400);
  });
});

describe('reading, updating and deleting', () => {
  it('GET of a missing or malformed id is 404, never 500', async () => {
    expect((await call('GET', '/users/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await call('GET', '/users/not-a-uuid')).status).toBe(404);
    expect((await call('GET', "/users/1'%20OR%201=1")).status).toBe(404);
  });

  it('GET /users/me returns the authenticated user; without a subject it is 401', async () => {
    const user = await signUp();
    const me = await call('GET', '/users/me', undefined, asUser(user.id));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: user.id, username: user.username, email: user.email });
    expect((await call('GET', '/users/me')).status).toBe(401);
  });

  it('shows the email to the owner and to internal callers only', async () => {
    const owner = await signUp();
    const other = await signUp();
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(other.id))).body.email).toBeUndefined();
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(owner.id))).body.email).toBe(owner.email);
    expect((await call('GET', `/users/${owner.id}`)).body.email).toBe(owner.email);
  });

  it('PATCH: only the user themself (or an internal call) may change the account', async () => {
    const owner = await signUp();
    const other = await signUp();

    const denied = await call('PATCH', `/users/${owner.id}`, { displayName: 'hijacked' }, asUser(other.id));
    expect(denied.status).toBe(403);
    expect((await call('GET', `/users/${owner.id}`)).body.displayName).toBe(owner.displayName);

    const own = await call('PATCH', `/users/${owner.id}`, { displayName: 'Renamed', email: `New.${owner.email}` }, asUser(owner.id));
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: owner.id, displayName: 'Renamed', email: `new.${owner.email}`, version: 2 });

    const internal = await call('PATCH', `/users/${owner.id}`, { displayName: null });
    expect(internal.status).toBe(200);
    expect(internal.body).toMatchObject({ displayName: null, version: 3 });

    expect((await call('PATCH', `/users/${owner.id}`, { email: other.email }, asUser(owner.id))).body).toMatchObject({
      error: 'conflict',
      details: { field: 'email' },
    });
    expect((await call('PATCH', `/users/${owner.id}`, { email: 'nope' }, asUser(owner.id))).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}`, {}, asUser(owner.id))).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}`, { username: 'renamed' }, asUser(owner.id))).status).toBe(400);
    expect((await call('PATCH', '/users/00000000-0000-4000-8000-000000000000', { displayName: 'x' })).status).toBe(404);
  });

  it('PATCH of the password changes which password issues a token', async () => {
    const input = newUser();
    const user = await signUp(input);
    const changed = await call('PATCH', `/users/${user.id}`, { password: 'a-new-password' }, asUser(user.id));
    expect(changed.status).toBe(200);
    expect(changed.text).not.toContain('scrypt$');
    expect((await call('POST', '/auth/token', { username: input.username, password: input.password })).status).toBe(401);
    expect((await call('POST', '/auth/token', { username: input.username, password: 'a-new-password' })).status).toBe(200);
  });

  it('DELETE: 403 for someone else, 204 for the owner, then the user is gone', async () => {
    const owner = await signUp();
    const other = await signUp();
    expect((await call('DELETE', `/users/${owner.id}`, undefined, asUser(other.id))).status).toBe(403);
    expect((await call('GET', `/users/${owner.id}`)).status).toBe(200);

    const deleted = await call('DELETE', `/users/${owner.id}`, undefined, asUser(owner.id));
    expect(deleted.status).toBe(204);
    expect((await call('GET', `/users/${owner.id}`)).status).toBe(404);
    expect((await call('DELETE', `/users/${owner.id}`)).status).toBe(404);

    // An internal call (no subject header) may delete too.
    expect((await call('DELETE', `/users/${other.id}`)).status).toBe(204);
  });
});

describe('refusals are not dependency failures', () => {
  it('a burst of 404s and 409s leaves the postgres breaker closed and the service writable', async () => {
    const existing = await signUp();
    for (let i = 0; i < 6; i++) {
      const missing = `00000000-0000-4000-8000-00000000000${i}`;
      expect((await call('DELETE', `/users/${missing}`)).status).toBe(404);
      expect((await call('PATCH', `/users/${missing}`, { displayName: 'x' })).status).toBe(404);
      expect((await call('POST', '/users', newUser({ username: existing.username }))).status).toBe(409);
    }
    const health = await call('GET', '/health');
    expect(health.body.circuits.find((circuit: { name: string }) => circuit.name === 'postgres').state).toBe('closed');
    expect(health.status).toBe(200);
    await signUp();
  });
});

describe('tokens', () => {
  it('issues a bearer token for good credentials whose subject is the user id', async () => {
    const input = newUser();
    const user = await signUp(input);
    const response = await call('POST', '/auth/token', { username: input.username.toUpperCase(), password: input.password });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600 });
    const claims = await verifyAccessToken(response.body.accessToken, TEST_JWT_SECRET);
    expect(claims).toEqual({ sub: user.id, username: user.username });
    await expect(verifyAccessToken(response.body.accessToken, 'x'.repeat(64))).rejects.toThrow();
  });

  it('answers a wrong password and an unknown user with the same 401', async () => {
    const input = newUser();
    await signUp(input);
    const wrongPassword = await call('POST', '/auth/token', { username: input.username, password: 'not-the-password' });
    const unknownUser = await call('POST', '/auth/token', { username: `nobody_${uniqueSuffix()}`, password: input.password });
    expect(wrongPassword.status).toBe(401);
    expect(unknownUser.status).toBe(401);
    expect(unknownUser.text).toBe(wrongPassword.text);
    expect(wrongPassword.body.accessToken).toBeUndefined();
    expect((await call('POST', '/auth/token', { username: input.username })).status).toBe(400);
  });
});

describe('user events through the outbox', () => {
  it('publishes user.created as a CloudEvent keyed by the user id, exactly once, and marks the outbox row published', async () => {
    const user = await signUp();
    const created = await eventually(
      async () => eventsFor(user.id).find((message) => message.event.type === 'user.created'),
      20_000,
      'user.created in users.events',
    );
    expect(created.event).toMatchObject({
      specversion: '1.0',
      type: 'user.created',
      source: '/users',
      subject: user.id,
      data: { id: user.id, username: user.username, email: user.email, displayName: user.displayName },
    });
    expect(created.event.id).toEqual(expect.any(String));
    expect(created.event.time).toEqual(expect.any(String));
    expect(created.raw).not.toContain('scrypt$');
    expect(created.raw).not.toContain('password');

    const db = running.context.db!;
    const outbox = await eventually(async () => {
      const { rows } = await db.query<{ published_at: Date | null; event: CloudEvent }>(
        `SELECT published_at, event FROM outbox WHERE message_key = $1`,
        [user.id],
      );
      return rows.length === 1 && rows[0]!.published_at !== null ? rows : undefined;
    }, 10_000, 'the outbox row to be marked published');
    expect(outbox[0]!.event.id).toBe(created.event.id);

    // The relay keeps polling, in outbox order: a later event for the same key (same partition)
    // goes out in a pass after the row was marked, and any second copy of user.created would
    // have reached the consumer before it.
    expect((await call('PATCH', `/users/${user.id}`, { displayName: 'Marker' }, asUser(user.id))).status).toBe(200);
    const marker = await eventually(
      async () => eventsFor(user.id).find((message) => message.event.type === 'user.updated'),
      20_000,
      'user.updated behind user.created',
    );
    const copies = eventsFor(user.id).filter((message) => message.event.type === 'user.created');
    expect(copies.map((message) => message.event.id)).toEqual([created.event.id]);
    expect(marker.partition).toBe(created.partition);
    expect(marker.offset).toBeGreaterThan(created.offset);
  });

  it('publishes user.updated then user.deleted for the same key, in order, on one partition', async () => {
    const user = await signUp();
    expect((await call('PATCH', `/users/${user.id}`, { displayName: 'Changed' }, asUser(user.id))).status).toBe(200);
    expect((await call('DELETE', `/users/${user.id}`, undefined, asUser(user.id))).status).toBe(204);

    const messages = await eventually(
      async () => (eventsFor(user.id).length >= 3 ? eventsFor(user.id) : undefined),
      20_000,
      'three events for the user',
    );
    expect(messages.map((message) => message.event.type)).toEqual(['user.created', 'user.updated', 'user.deleted']);
    expect(new Set(messages.map((message) => message.partition)).size).toBe(1);
    const offsets = messages.map((message) => message.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(messages.every((message) => message.event.subject === user.id)).toBe(true);
    expect(messages[1]!.event.data).toEqual({ id: user.id, username: user.username, email: user.email, displayName: 'Changed' });
    expect(messages[2]!.event.data).toEqual({ id: user.id });
  });

  it('writes no event when the write is refused', async () => {
    const first = await signUp();
    const db = running.context.db!;
    const count = async () => Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox`)).rows[0]!.n);
    const before = await count();
    expect((await call('POST', '/users', newUser({ username: first.username }))).status).toBe(409);
    expect((await call('PATCH', `/users/${first.id}`, { displayName: 'x' }, asUser('00000000-0000-4000-8000-000000000000'))).status).toBe(403);
    expect(await count()).toBe(before);
  });
});
