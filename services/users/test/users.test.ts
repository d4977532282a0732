import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CREDENTIALS_VERSION_HEADER, startService, verifyAccessToken, type CloudEvent, type RunningService } from '@msctl/kit';
import { TEST_JWT_SECRET, asCaller, eventually, testEnv, uniqueSuffix } from '@msctl/kit/testing';
import { usersService, type UsersConfig } from '../src/service';
import { setTimeout as sleep } from 'node:timers/promises';

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

interface Caller {
  subject?: string;
  clientIp?: string;
}

/** A request as the gateway relays it: with its assertion, for `caller` (nobody logged in by default). */
async function call(method: string, path: string, body?: unknown, caller: Caller | null = {}, target: RunningService<UsersConfig> = running) {
  const headers = caller === null ? {} : await asCaller('users', caller);
  const response = await fetch(`${target.url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, body: text ? JSON.parse(text) : undefined };
}

const asUser = (id: string): Caller => ({ subject: id });
/** What a request that did not come through the gateway carries: nothing. */
const direct = null;

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
  // Small back-off values, so that the back-off tests see it start and end.
  const env = testEnv('users', { extra: { LOGIN_FREE_FAILURES: '2', LOGIN_BACKOFF_MAX_MS: '2000' } });
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

    const fetched = await call('GET', `/users/${response.body.id}`, undefined, asUser(response.body.id));
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

describe('who may call', () => {
  it('answers 401 to a request without the gateway assertion, on every route; /health stays open', async () => {
    const user = await signUp();
    for (const [method, path, body] of [
      ['POST', '/users', newUser()],
      ['POST', '/auth/token', { username: user.username, password: 'a-good-password' }],
      ['GET', '/users/me', undefined],
      ['GET', '/users/me/credentials', undefined],
      ['GET', `/users/${user.id}`, undefined],
      ['PATCH', `/users/${user.id}`, { displayName: 'direct' }],
      ['DELETE', `/users/${user.id}`, undefined],
    ] as const) {
      const response = await call(method, path, body, direct);
      expect(response.status, `${method} ${path}`).toBe(401);
      expect(response.body).toMatchObject({ error: 'unauthorized' });
    }
    expect((await call('GET', `/users/${user.id}`, undefined, asUser(user.id))).body.displayName).toBe(user.displayName);
    expect((await call('GET', '/health', undefined, direct)).status).toBe(200);
  });
});

describe('reading, updating and deleting', () => {
  it('GET of a missing or malformed id is 404, never 500', async () => {
    const reader = asUser((await signUp()).id);
    expect((await call('GET', '/users/00000000-0000-4000-8000-000000000000', undefined, reader)).status).toBe(404);
    expect((await call('GET', '/users/not-a-uuid', undefined, reader)).status).toBe(404);
    expect((await call('GET', "/users/1'%20OR%201=1", undefined, reader)).status).toBe(404);
  });

  it('GET /users/me returns the authenticated user; without a subject it is 401', async () => {
    const user = await signUp();
    const me = await call('GET', '/users/me', undefined, asUser(user.id));
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: user.id, username: user.username, email: user.email });
    expect((await call('GET', '/users/me')).status).toBe(401);
  });

  it('shows the email to the owner only; a user is not shown to a request with nobody logged in', async () => {
    const owner = await signUp();
    const other = await signUp();
    const seenByOther = await call('GET', `/users/${owner.id}`, undefined, asUser(other.id));
    expect(seenByOther.status).toBe(200);
    expect(seenByOther.body.email).toBeUndefined();
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(owner.id))).body.email).toBe(owner.email);
    expect((await call('GET', `/users/${owner.id}`)).status).toBe(401);
  });

  it('PATCH: only the user themself may change the account', async () => {
    const owner = await signUp();
    const other = await signUp();

    const denied = await call('PATCH', `/users/${owner.id}`, { displayName: 'hijacked' }, asUser(other.id));
    expect(denied.status).toBe(403);
    expect((await call('PATCH', `/users/${owner.id}`, { displayName: 'nobody' })).status).toBe(401);
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(owner.id))).body.displayName).toBe(owner.displayName);

    const own = await call(
      'PATCH',
      `/users/${owner.id}`,
      { displayName: 'Renamed', email: `New.${owner.email}`, currentPassword: 'a-good-password' },
      asUser(owner.id),
    );
    expect(own.status).toBe(200);
    expect(own.body).toMatchObject({ id: owner.id, displayName: 'Renamed', email: `new.${owner.email}`, version: 2 });

    const cleared = await call('PATCH', `/users/${owner.id}`, { displayName: null }, asUser(owner.id));
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ displayName: null, version: 3 });

    expect((await call('PATCH', `/users/${owner.id}`, { email: other.email, currentPassword: 'a-good-password' }, asUser(owner.id))).body).toMatchObject({
      error: 'conflict',
      details: { field: 'email' },
    });
    expect((await call('PATCH', `/users/${owner.id}`, { email: 'nope' }, asUser(owner.id))).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}`, {}, asUser(owner.id))).status).toBe(400);
    expect((await call('PATCH', `/users/${owner.id}`, { username: 'renamed' }, asUser(owner.id))).status).toBe(400);
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await call('PATCH', `/users/${missing}`, { displayName: 'x' }, asUser(missing))).status).toBe(404);
  });

  it('PATCH of the password changes which password issues a token', async () => {
    const input = newUser();
    const user = await signUp(input);
    const changed = await call('PATCH', `/users/${user.id}`, { password: 'a-new-password', currentPassword: input.password }, asUser(user.id));
    expect(changed.status).toBe(200);
    expect(changed.text).not.toContain('scrypt$');
    expect((await call('POST', '/auth/token', { username: input.username, password: input.password })).status).toBe(401);
    expect((await call('POST', '/auth/token', { username: input.username, password: 'a-new-password' })).status).toBe(200);
  });

  it('DELETE: 403 for someone else, 401 for nobody, 204 for the owner, then the user is gone', async () => {
    const owner = await signUp();
    const other = await signUp();
    expect((await call('DELETE', `/users/${owner.id}`, undefined, asUser(other.id))).status).toBe(403);
    expect((await call('DELETE', `/users/${owner.id}`)).status).toBe(401);
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(other.id))).status).toBe(200);

    const deleted = await call('DELETE', `/users/${owner.id}`, undefined, asUser(owner.id));
    expect(deleted.status).toBe(204);
    expect((await call('GET', `/users/${owner.id}`, undefined, asUser(other.id))).status).toBe(404);
    expect((await call('DELETE', `/users/${owner.id}`, undefined, asUser(owner.id))).status).toBe(404);
  });
});

describe('credentials', () => {
  it('changing the email or the password needs the current password: 400 without it, 403 when wrong, and nothing changes', async () => {
    const input = newUser();
    const user = await signUp(input);
    const patch = (body: Record<string, unknown>) => call('PATCH', `/users/${user.id}`, body, asUser(user.id));

    for (const change of [{ email: `other.${user.email}` }, { password: 'another-password' }]) {
      const missing = await patch(change);
      expect(missing.status, JSON.stringify(change)).toBe(400);
      expect(missing.body.details).toEqual([{ path: 'currentPassword', message: 'required' }]);
      const wrong = await patch({ ...change, currentPassword: 'not-the-password' });
      expect(wrong.status, JSON.stringify(change)).toBe(403);
      expect(wrong.body).toMatchObject({ error: 'forbidden', message: 'the current password is wrong' });
      // The old password still logs in (which also clears the failure the wrong one counted).
      expect((await call('POST', '/auth/token', { username: input.username, password: input.password })).status).toBe(200);
    }
    const after = await call('GET', '/users/me', undefined, asUser(user.id));
    expect(after.body).toMatchObject({ email: user.email, version: 1 });
    expect((await call('POST', '/auth/token', { username: input.username, password: 'another-password' })).status).toBe(401);

    // The display name alone is not a credential.
    expect((await patch({ displayName: 'Only the name' })).status).toBe(200);
    const email = await patch({ email: `other.${user.email}`, currentPassword: input.password });
    expect(email.status).toBe(200);
    expect(email.body.email).toBe(`other.${user.email}`);
  });

  it('a password change raises the credentials version, and tokens carry the version they were issued under (ver)', async () => {
    const input = newUser();
    const user = await signUp(input);
    const credentials = async () => (await call('GET', '/users/me/credentials', undefined, asUser(user.id))).body;
    const tokenVersion = async (password: string) => {
      const response = await call('POST', '/auth/token', { username: input.username, password });
      expect(response.status).toBe(200);
      return (await verifyAccessToken(response.body.accessToken, TEST_JWT_SECRET)).ver;
    };
    expect(await credentials()).toEqual({ credentialsVersion: 1 });
    expect(await tokenVersion(input.password)).toBe(1);

    // Each change's answer says the version it left, for the gateway to remember.
    const renamed = await call('PATCH', `/users/${user.id}`, { displayName: 'Not a credential' }, asUser(user.id));
    expect(renamed.status).toBe(200);
    expect(renamed.headers.get(CREDENTIALS_VERSION_HEADER)).toBe('1');
    expect(await credentials()).toEqual({ credentialsVersion: 1 });

    const changed = await call('PATCH', `/users/${user.id}`, { password: 'a-new-password', currentPassword: input.password }, asUser(user.id));
    expect(changed.status).toBe(200);
    expect(changed.headers.get(CREDENTIALS_VERSION_HEADER)).toBe('2');
    expect(await credentials()).toEqual({ credentialsVersion: 2 });
    expect(await tokenVersion('a-new-password')).toBe(2);
  });

  it('GET /users/me/credentials: 401 with nobody logged in, 404 once the user is gone', async () => {
    const user = await signUp();
    expect((await call('GET', '/users/me/credentials')).status).toBe(401);
    expect((await call('GET', '/users/me/credentials', undefined, asUser('not-a-uuid'))).status).toBe(404);
    expect((await call('DELETE', `/users/${user.id}`, undefined, asUser(user.id))).status).toBe(204);
    expect((await call('GET', '/users/me/credentials', undefined, asUser(user.id))).status).toBe(404);
  });
});

describe('refusals are not dependency failures', () => {
  it('a burst of 404s and 409s leaves the postgres breaker closed and the service writable', async () => {
    const existing = await signUp();
    for (let i = 0; i < 6; i++) {
      const missing = `00000000-0000-4000-8000-00000000000${i}`;
      expect((await call('DELETE', `/users/${missing}`, undefined, asUser(missing))).status).toBe(404);
      expect((await call('PATCH', `/users/${missing}`, { displayName: 'x' }, asUser(missing))).status).toBe(404);
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
    expect(claims).toEqual({ sub: user.id, username: user.username, ver: 1 });
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

describe('log-in back-off (LOGIN_FREE_FAILURES=2, LOGIN_BACKOFF_MAX_MS=2000)', () => {

  it('past the free failures an account refuses even the right password with 429 until its back-off ends, which doubles', async () => {
    const input = newUser();
    await signUp(input);
    const logIn = (password: string) => call('POST', '/auth/token', { username: input.username, password });
    const expectBackingOff = async (retryAfter: string) => {
      for (const password of [input.password, 'not-the-password']) {
        const refused = await logIn(password);
        expect(refused.status).toBe(429);
        expect(refused.body).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/failed log-ins for this account/) });
        expect(refused.headers.get('retry-after')).toBe(retryAfter);
      }
    };

    // The free failures, the last of which starts the back-off: each password is still checked.
    for (let i = 0; i < 2; i++) expect((await logIn('not-the-password')).status).toBe(401);
    await expectBackingOff('1');
    await sleep(1_100);
    // Over: a password is checked again, and the next failure backs off twice as long.
    expect((await logIn('not-the-password')).status).toBe(401);
    await expectBackingOff('2');
    await sleep(2_100);
    expect((await logIn(input.password)).status).toBe(200);
    // A log-in clears the count: one failure short of the free ones is checked as usual.
    expect((await logIn('not-the-password')).status).toBe(401);
    expect((await logIn(input.password)).status).toBe(200);
  });

  it('a wrong current password counts as a failed log-in', async () => {
    const input = newUser();
    const user = await signUp(input);
    const change = (currentPassword: string) =>
      call('PATCH', `/users/${user.id}`, { password: 'a-new-password', currentPassword }, asUser(user.id));
    for (let i = 0; i < 2; i++) expect((await change('not-the-password')).status).toBe(403);
    expect((await change(input.password)).status).toBe(429);
    expect((await call('POST', '/auth/token', { username: input.username, password: input.password })).status).toBe(429);
  });

  it('backs off an unknown username just the same, so the answer tells nothing of which names exist', async () => {
    const username = `nobody_${uniqueSuffix()}`;
    for (let i = 0; i < 2; i++) expect((await call('POST', '/auth/token', { username, password: 'whatever-it-is' })).status).toBe(401);
    expect((await call('POST', '/auth/token', { username, password: 'whatever-it-is' })).status).toBe(429);
  });
});

describe('limits of the public routes (per address and per username)', () => {
  const limits = { PUBLIC_LIMIT_PER_ADDRESS: '3', PUBLIC_LIMIT_PER_USERNAME: '3', PUBLIC_LIMIT_WINDOW_MS: '60000' };
  let limited: RunningService<UsersConfig>;
  let addresses = 0;
  /** A client address no other test used. */
  const freshAddress = () => {
    addresses += 1;
    return `10.0.${addresses >> 8}.${addresses & 255}`;
  };
  const from = (clientIp: string) => ({ clientIp });
  const expectLimited = (response: Awaited<ReturnType<typeof call>>, what: RegExp) => {
    expect(response.status).toBe(429);
    expect(response.body).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(what) });
    const retryAfter = Number(response.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
  };
  const signUpAt = async (clientIp: string, input = newUser()) => {
    const response = await call('POST', '/users', input, from(clientIp), limited);
    expect(response.status, response.text).toBe(201);
    return input;
  };

  beforeAll(async () => {
    limited = await startService(usersService, { env: testEnv('users', { extra: limits }) });
  });

  afterAll(async () => {
    await limited?.close();
  });

  it('refuses sign-ups past the limit from one address with 429 and Retry-After; other addresses and log-ins are not counted with them', async () => {
    const address = freshAddress();
    const first = await signUpAt(address);
    await signUpAt(address);
    await signUpAt(address);
    expectLimited(await call('POST', '/users', newUser(), from(address), limited), /too many sign-ups from this address/);
    await signUpAt(freshAddress());
    const logIn = await call('POST', '/auth/token', { username: first.username, password: first.password }, from(address), limited);
    expect(logIn.status).toBe(200);
  });

  it('refuses log-ins past the limit from one address, even with the right password', async () => {
    const user = await signUpAt(freshAddress());
    const address = freshAddress();
    for (let i = 0; i < 3; i++) {
      const response = await call('POST', '/auth/token', { username: `nobody_${uniqueSuffix()}`, password: 'whatever-it-is' }, from(address), limited);
      expect(response.status).toBe(401);
    }
    expectLimited(
      await call('POST', '/auth/token', { username: user.username, password: user.password }, from(address), limited),
      /too many log-ins from this address/,
    );
    expect((await call('POST', '/auth/token', { username: user.username, password: user.password }, from(freshAddress()), limited)).status).toBe(200);
  });

  it('refuses log-ins past the limit for one username, whatever the address', async () => {
    const user = await signUpAt(freshAddress());
    const other = await signUpAt(freshAddress());
    for (let i = 0; i < 3; i++) {
      expect((await call('POST', '/auth/token', { username: user.username, password: user.password }, from(freshAddress()), limited)).status).toBe(200);
    }
    const address = freshAddress();
    expectLimited(
      await call('POST', '/auth/token', { username: user.username.toUpperCase(), password: user.password }, from(address), limited),
      /too many log-ins from this account/,
    );
    expect((await call('POST', '/auth/token', { username: other.username, password: other.password }, from(address), limited)).status).toBe(200);
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
