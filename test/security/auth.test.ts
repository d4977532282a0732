/**
 * Suite 6, auth, through the real gateway in front of the real services: missing, malformed,
 * expired, wrong-key, `alg: none`, tampered, wrong-issuer/audience and wrong-algorithm tokens →
 * 401 (JSON, WWW-Authenticate) on every protected route of the OpenAPI document, and nothing they
 * tried to write is stored or counted, while the good token gets the documented success; identity
 * headers a client sends are never trusted; the rate limit answers 429 with Retry-After.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { JWT_AUDIENCE, JWT_ISSUER, signAccessToken, type RunningService } from '@msctl/kit';
import type { OpenApiDocument } from '../../services/gateway/src/openapi';
import { operationsOf } from './openapi-support';
import { TEST_JWT_SECRET, startSecurityStack, type SecurityStack } from './stack';

interface Account {
  id: string;
  username: string;
  token: string;
}

let stack: SecurityStack;
let gateway: RunningService<unknown>;
let document: OpenApiDocument;
let main: Account;
const suffix = uniqueSuffix();
const password = 'a perfectly fine password';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const key = (secret: string) => new TextEncoder().encode(secret);
const bearer = (account: Account) => ({ authorization: `Bearer ${account.token}` });

async function call(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

async function signUp(username: string): Promise<Account> {
  const created = await call(gateway.url, 'POST', '/api/users', {}, { username, email: `${username}@example.test`, password });
  expect(created.status, created.text).toBe(201);
  const login = await call(gateway.url, 'POST', '/api/auth/token', {}, { username, password });
  expect(login.status, login.text).toBe(200);
  return { id: String(created.json().id), username, token: String(login.json().accessToken) };
}

/** A GET with the account's good token, which must answer 200. */
async function read(path: string, account: Account = main): Promise<Record<string, unknown>> {
  const answer = await call(gateway.url, 'GET', path, bearer(account));
  expect(answer.status, `GET ${path}: ${answer.text}`).toBe(200);
  return answer.json();
}

/** Every kind of token the gateway must refuse, each claiming to be `account` where it carries claims at all. */
async function badTokensFor(account: Account): Promise<Record<string, string | null>> {
  const [header, payload, signature] = account.token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const now = Math.floor(Date.now() / 1000);
  const sign = (secret: string, edit: (jwt: SignJWT) => SignJWT, alg = 'HS256') =>
    edit(new SignJWT({ username: account.username }).setProtectedHeader({ alg, typ: 'JWT' }).setSubject(account.id)).sign(key(secret));
  const standard = (jwt: SignJWT) => jwt.setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setIssuedAt().setExpirationTime('1h');
  return {
    missing: null,
    'empty bearer': 'Bearer ',
    'basic scheme': `Basic ${Buffer.from(`${account.username}:${password}`).toString('base64')}`,
    'not a JWT': 'Bearer not-a-jwt',
    'three garbage parts': 'Bearer x.y.z',
    expired: `Bearer ${await sign(TEST_JWT_SECRET, (jwt) => jwt.setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setIssuedAt(now - 7200).setExpirationTime(now - 3600))}`,
    'wrong key': `Bearer ${await sign(randomBytes(32).toString('hex'), standard)}`,
    'alg none': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    'alg none, signature kept': `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`,
    'tampered subject': `Bearer ${header}.${b64({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })}.${signature}`,
    'tampered expiry': `Bearer ${header}.${b64({ ...claims, exp: now + 10 * 365 * 86400 })}.${signature}`,
    'signature stripped': `Bearer ${header}.${payload}.`,
    'signature of another token': `Bearer ${header}.${payload}.${createHmac('sha256', 'guess').update(`${header}.${payload}`).digest('base64url')}`,
    'wrong issuer': `Bearer ${await sign(TEST_JWT_SECRET, (jwt) => jwt.setIssuer('someone-else').setAudience(JWT_AUDIENCE).setExpirationTime('1h'))}`,
    'wrong audience': `Bearer ${await sign(TEST_JWT_SECRET, (jwt) => jwt.setIssuer(JWT_ISSUER).setAudience('elsewhere').setExpirationTime('1h'))}`,
    'HS512 with the right key': `Bearer ${await sign(TEST_JWT_SECRET, standard, 'HS512')}`,
    'no username claim': `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(account.id).setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setExpirationTime('1h').sign(key(TEST_JWT_SECRET))}`,
  };
}

beforeAll(async () => {
  stack = await startSecurityStack();
  gateway = await stack.startGateway();
  document = (await call(gateway.url, 'GET', '/api/openapi.json')).json() as unknown as OpenApiDocument;
  main = await signUp(`auth_${suffix}`);
});
afterAll(async () => {
  await stack?.close();
});

/** How one protected operation is called, and what a refused call must leave as it was. */
interface Probe {
  account: Account;
  /** The request of one attempt: a bad token's index, or 'good'. Writes carry a value of their own per attempt. */
  request(attempt: number | 'good'): { path: string; body?: unknown };
  /** What the operation would change, read with the good token: the same after every refused attempt. */
  state?(): Promise<unknown>;
  /** What the good-token call changed, read back. */
  changed?(): Promise<void>;
}

describe('suite 6: auth on every protected route', () => {
  it('refuses every bad token with 401 on every protected route, changing nothing, and lets the good one through', async () => {
    // Deleting an account is tried on one of its own: the good-token call deletes it.
    const doomed = await signUp(`doomed_${suffix}`);
    const welcome = await eventually(async () => {
      const list = (await read('/api/notifications')).notifications as Array<Record<string, unknown>>;
      return list.find((notification) => notification.kind === 'welcome');
    }, 30_000, 'the welcome notification');
    expect(welcome).toMatchObject({ read: false, readAt: null });
    const refusedType = (attempt: number) => `auth.refused.${suffix}.${attempt}`;
    const acceptedType = `auth.accepted.${suffix}`;
    const update = (attempt: number | 'good') => ({ displayName: `attempt ${attempt}`, email: `attempt_${attempt}_${suffix}@example.test`, currentPassword: password });
    const { currentPassword: _, ...updated } = update('good');
    const userBefore = await read(`/api/users/${main.id}`);

    const probes: Record<string, Probe> = {
      'GET /api/users/me': { account: main, request: () => ({ path: '/api/users/me' }) },
      'GET /api/users/me/credentials': { account: main, request: () => ({ path: '/api/users/me/credentials' }) },
      'GET /api/users/{id}': { account: main, request: () => ({ path: `/api/users/${main.id}` }) },
      'PATCH /api/users/{id}': {
        account: main,
        request: (attempt) => ({ path: `/api/users/${main.id}`, body: update(attempt) }),
        state: () => read(`/api/users/${main.id}`),
        changed: async () => expect(await read(`/api/users/${main.id}`)).toMatchObject({ ...updated, version: Number(userBefore.version) + 1 }),
      },
      'DELETE /api/users/{id}': {
        account: doomed,
        request: () => ({ path: `/api/users/${doomed.id}` }),
        state: () => read(`/api/users/${doomed.id}`, doomed),
        // Gone for everyone, and the deleted account's own token no longer works at all.
        changed: async () => {
          expect((await call(gateway.url, 'GET', `/api/users/${doomed.id}`, bearer(main))).status).toBe(404);
          expect((await call(gateway.url, 'GET', '/api/users/me', bearer(doomed))).status).toBe(401);
        },
      },
      // Every event names the same subject, so all would share one partition and be counted in order.
      'POST /api/events': {
        account: main,
        request: (attempt) => ({ path: '/api/events', body: { type: attempt === 'good' ? acceptedType : refusedType(attempt), subject: main.id, data: {} } }),
      },
      'GET /api/notifications': { account: main, request: () => ({ path: '/api/notifications' }) },
      'POST /api/notifications/{id}/read': {
        account: main,
        request: () => ({ path: `/api/notifications/${String(welcome.id)}/read` }),
        state: async () => (await read('/api/notifications')).notifications,
        changed: async () => {
          const list = (await read('/api/notifications')).notifications as Array<Record<string, unknown>>;
          expect(list.find((notification) => notification.id === welcome.id)).toMatchObject({ read: true, readAt: expect.any(String) });
        },
      },
      'GET /api/analytics/summary': { account: main, request: () => ({ path: '/api/analytics/summary' }) },
      'GET /api/analytics/timeseries': { account: main, request: () => ({ path: `/api/analytics/timeseries?type=${acceptedType}` }) },
    };

    const protectedOps = operationsOf(document).filter((op) => op.operation.security.length > 0);
    // A protected route the document gains must get a probe here before this test passes.
    expect(protectedOps.map((op) => `${op.method} ${op.path}`).sort()).toEqual(Object.keys(probes).sort());
    const badTokens = new Map<Account, Array<[string, string | null]>>();
    for (const account of [main, doomed]) badTokens.set(account, Object.entries(await badTokensFor(account)));

    for (const op of protectedOps) {
      const operation = `${op.method} ${op.path}`;
      const probe = probes[operation]!;
      const before = await probe.state?.();
      for (const [index, [name, authorization]] of badTokens.get(probe.account)!.entries()) {
        const { path, body } = probe.request(index);
        const answer = await call(gateway.url, op.method, path, authorization === null ? {} : { authorization }, body);
        const where = `${operation} with ${name}`;
        expect(answer.status, `${where}: ${answer.text}`).toBe(401);
        expect(answer.json(), where).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
        expect(answer.headers.get('www-authenticate'), where).toMatch(/^Bearer/);
      }
      if (probe.state) expect(await probe.state(), `${operation}: after the refused attempts`).toEqual(before);

      const success = Object.keys(op.operation.responses).filter((status) => status.startsWith('2'));
      expect(success, `${operation}: the documented success`).toHaveLength(1);
      const { path, body } = probe.request('good');
      const good = await call(gateway.url, op.method, path, bearer(probe.account), body);
      expect(good.status, `${operation} with the good token: ${good.text}`).toBe(Number(success[0]));
      await probe.changed?.();
    }

    // The good-token writes are counted once analytics reached them; a refused write, sent
    // before them on the same key, would have been counted by then too.
    const counted = await eventually(async () => {
      const byType = (await read('/api/analytics/summary')).byType as Record<string, number>;
      return byType[acceptedType] && byType['user.updated'] && byType['user.deleted'] ? byType : undefined;
    }, 30_000, 'analytics counting the good-token event, update and delete');
    expect(Object.keys(counted).filter((type) => type.startsWith(`auth.refused.${suffix}.`))).toEqual([]);
    expect(counted).toMatchObject({ [acceptedType]: 1, 'user.updated': 1, 'user.deleted': 1 });

    // The signing helper itself is what users signs with: a fresh token for the same user works.
    const fresh = await signAccessToken({ sub: main.id, username: main.username }, TEST_JWT_SECRET, 60);
    expect((await call(gateway.url, 'GET', '/api/users/me', { authorization: `Bearer ${fresh}` })).status).toBe(200);
  });

  it('never trusts identity headers a client sends', async () => {
    const other = '00000000-0000-4000-8000-000000000000';
    const spoof = { 'x-auth-subject': other, 'x-auth-username': 'admin' };
    expect((await call(gateway.url, 'GET', '/api/users/me', spoof)).status).toBe(401);
    expect((await call(gateway.url, 'DELETE', `/api/users/${main.id}`, spoof)).status).toBe(401);
    const me = await call(gateway.url, 'GET', '/api/users/me', { ...spoof, authorization: `Bearer ${main.token}` });
    expect(me.status).toBe(200);
    expect(me.json().id).toBe(main.id);
    // Someone else's account stays theirs, whatever headers say.
    const victim = await call(gateway.url, 'POST', '/api/users', {}, { username: `victim_${suffix}`, email: `victim_${suffix}@example.test`, password });
    const victimId = String(victim.json().id);
    const attempt = await call(gateway.url, 'DELETE', `/api/users/${victimId}`, { 'x-auth-subject': victimId, authorization: `Bearer ${main.token}` });
    expect(attempt.status).toBe(403);
    expect((await call(gateway.url, 'GET', `/api/users/${victimId}`, { authorization: `Bearer ${main.token}` })).status).toBe(200);
  });

  it('answers 429 with Retry-After and a JSON body beyond the rate limit, per client', async () => {
    const limited = await stack.startGateway({ RATE_LIMIT_PER_SECOND: '5' });
    const burst = async (headers: Record<string, string>, path: string) =>
      Promise.all(Array.from({ length: 30 }, () => call(limited.url, 'GET', path, headers)));
    for (const [who, headers, path] of [
      ['a token holder', { authorization: `Bearer ${main.token}` }, '/api/users/me'],
      ['an anonymous client', {}, '/api/openapi.json'],
    ] as const) {
      const answers = await burst(headers, path);
      const tooMany = answers.filter((answer) => answer.status === 429);
      expect(tooMany.length, `${who}: ${answers.map((answer) => answer.status).join(' ')}`).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer.status === 200).length, `${who}: ${answers.map((answer) => `${answer.status} ${answer.text}`).join(' ')}`).toBeGreaterThan(0);
      for (const answer of tooMany) {
        expect(Number(answer.headers.get('retry-after')), `${who}: Retry-After`).toBeGreaterThanOrEqual(1);
        expect(answer.json()).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/requests per second/) });
      }
      expect(answers.every((answer) => answer.status === 200 || answer.status === 429), who).toBe(true);
    }
  });
});
