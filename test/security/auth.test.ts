/**
 * Suite 6, auth, through the real gateway in front of the real services: missing, malformed,
 * expired, wrong-key, `alg: none`, tampered, wrong-issuer/audience and wrong-algorithm tokens →
 * 401 (JSON, WWW-Authenticate) on every protected route of the OpenAPI document; identity
 * headers a client sends are never trusted; the rate limit answers 429 with Retry-After.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueSuffix } from '@msctl/kit/testing';
import { JWT_AUDIENCE, JWT_ISSUER, signAccessToken, type RunningService } from '@msctl/kit';
import type { OpenApiDocument } from '../../services/gateway/src/openapi';
import { operationsOf, type DocumentedOperation } from './openapi-support';
import { TEST_JWT_SECRET, startSecurityStack, type SecurityStack } from './stack';

let stack: SecurityStack;
let gateway: RunningService<unknown>;
let document: OpenApiDocument;
let userId: string;
let token: string;
const suffix = uniqueSuffix();
const password = 'a perfectly fine password';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const key = (secret: string) => new TextEncoder().encode(secret);

async function call(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** A request that would succeed (or fail for other reasons than auth) with a good token. */
function concrete(op: DocumentedOperation): { path: string; body?: unknown } {
  // Never our own id in a DELETE: the good-token control call would delete the user.
  const path = op.path.replace('{id}', op.method === 'DELETE' ? '0f9d6c2e-1a2b-4c3d-8e4f-5a6b7c8d9e0f' : userId);
  if (op.method === 'POST' && op.path === '/api/events') return { path, body: { type: 'auth.probe', data: {} } };
  if (op.method === 'PATCH') return { path, body: { displayName: 'Probe' } };
  if (op.path === '/api/analytics/timeseries') return { path: `${path}?type=auth.probe` };
  return { path };
}

beforeAll(async () => {
  stack = await startSecurityStack();
  gateway = await stack.startGateway();
  document = (await call(gateway.url, 'GET', '/api/openapi.json')).json() as unknown as OpenApiDocument;
  const signUp = await call(gateway.url, 'POST', '/api/users', {}, { username: `auth_${suffix}`, email: `auth_${suffix}@example.test`, password });
  expect(signUp.status, signUp.text).toBe(201);
  userId = String(signUp.json().id);
  token = String((await call(gateway.url, 'POST', '/api/auth/token', {}, { username: `auth_${suffix}`, password })).json().accessToken);
});
afterAll(async () => {
  await stack?.close();
});

describe('suite 6: auth on every protected route', () => {
  it('refuses every bad token with 401 on every protected route, and lets the good one through', async () => {
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
    const now = Math.floor(Date.now() / 1000);
    const sign = (secret: string, edit: (jwt: SignJWT) => SignJWT, alg = 'HS256') =>
      edit(new SignJWT({ username: `auth_${suffix}` }).setProtectedHeader({ alg, typ: 'JWT' }).setSubject(userId)).sign(key(secret));
    const standard = (jwt: SignJWT) => jwt.setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setIssuedAt().setExpirationTime('1h');

    const badTokens: Record<string, string | null> = {
      missing: null,
      'empty bearer': 'Bearer ',
      'basic scheme': `Basic ${Buffer.from(`auth_${suffix}:${password}`).toString('base64')}`,
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
      'no username claim': `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setIssuer(JWT_ISSUER).setAudience(JWT_AUDIENCE).setExpirationTime('1h').sign(key(TEST_JWT_SECRET))}`,
    };

    const protectedOps = operationsOf(document).filter((op) => op.operation.security.length > 0);
    expect(protectedOps.length).toBe(9);
    let refused = 0;
    for (const op of protectedOps) {
      const { path, body } = concrete(op);
      for (const [name, authorization] of Object.entries(badTokens)) {
        const answer = await call(gateway.url, op.method, path, authorization === null ? {} : { authorization }, body);
        const where = `${op.method} ${op.path} with ${name}`;
        expect(answer.status, `${where}: ${answer.text}`).toBe(401);
        expect(answer.json(), where).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
        expect(answer.headers.get('www-authenticate'), where).toMatch(/^Bearer/);
        refused++;
      }
      const good = await call(gateway.url, op.method, path, { authorization: `Bearer ${token}` }, body);
      expect(good.status, `${op.method} ${op.path} with the good token: ${good.text}`).not.toBe(401);
      expect(good.status).toBeLessThan(500);
    }
    expect(refused).toBe(protectedOps.length * Object.keys(badTokens).length);
    // The signing helper itself is what users signs with: a fresh token for the same user works.
    const fresh = await signAccessToken({ sub: userId, username: `auth_${suffix}` }, TEST_JWT_SECRET, 60);
    expect((await call(gateway.url, 'GET', '/api/users/me', { authorization: `Bearer ${fresh}` })).status).toBe(200);
  });

  it('never trusts identity headers a client sends', async () => {
    const other = '00000000-0000-4000-8000-000000000000';
    const spoof = { 'x-auth-subject': other, 'x-auth-username': 'admin' };
    expect((await call(gateway.url, 'GET', '/api/users/me', spoof)).status).toBe(401);
    expect((await call(gateway.url, 'DELETE', `/api/users/${userId}`, spoof)).status).toBe(401);
    const me = await call(gateway.url, 'GET', '/api/users/me', { ...spoof, authorization: `Bearer ${token}` });
    expect(me.status).toBe(200);
    expect(me.json().id).toBe(userId);
    // Someone else's account stays theirs, whatever headers say.
    const victim = await call(gateway.url, 'POST', '/api/users', {}, { username: `victim_${suffix}`, email: `victim_${suffix}@example.test`, password });
    const victimId = String(victim.json().id);
    const attempt = await call(gateway.url, 'DELETE', `/api/users/${victimId}`, { 'x-auth-subject': victimId, authorization: `Bearer ${token}` });
    expect(attempt.status).toBe(403);
    expect((await call(gateway.url, 'GET', `/api/users/${victimId}`, { authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('answers 429 with Retry-After and a JSON body beyond the rate limit, per client', async () => {
    const limited = await stack.startGateway({ RATE_LIMIT_PER_SECOND: '5' });
    const burst = async (headers: Record<string, string>, path: string) =>
      Promise.all(Array.from({ length: 30 }, () => call(limited.url, 'GET', path, headers)));
    for (const [who, headers, path] of [
      ['a token holder', { authorization: `Bearer ${token}` }, '/api/users/me'],
      ['an anonymous client', {}, '/api/openapi.json'],
    ] as const) {
      const answers = await burst(headers, path);
      const tooMany = answers.filter((answer) => answer.status === 429);
      expect(tooMany.length, who).toBeGreaterThan(0);
      expect(answers.filter((answer) => answer.status === 200).length, who).toBeGreaterThan(0);
      for (const answer of tooMany) {
        expect(Number(answer.headers.get('retry-after')), `${who}: Retry-After`).toBeGreaterThanOrEqual(1);
        expect(answer.json()).toMatchObject({ error: 'rate_limited', message: expect.stringMatching(/requests per second/) });
      }
      expect(answers.every((answer) => answer.status === 200 || answer.status === 429), who).toBe(true);
    }
  });
});
