/**
 * The gateway's assertion, as every service but the gateway checks it: a request reaches a
 * route only with an assertion the gateway signed for this very service and that has not
 * expired; health and metrics answer anyone.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ASSERTION_HEADER, AccessTokenVerifier, AssertionSigner, AssertionVerifier, InvalidTokenError, signAccessToken, type Caller } from '../src/auth';
import { requireSubject } from '../src/caller';
import { ConfigError, baseConfigSchema } from '../src/config';
import { startService, type RunningService, type ServiceDefinition } from '../src/service';
import { TEST_INTERNAL_KEYS, asCaller, testEnv } from '../src/testing';

const SERVICE = 'auth-test';

const definition: ServiceDefinition<z.infer<typeof baseConfigSchema>> = {
  name: SERVICE,
  config: baseConfigSchema,
  setup({ app }) {
    app.get('/whoami', async (request) => ({ caller: request.caller }));
    app.get('/mine', async (request) => ({ subject: requireSubject(request) }));
  },
};

const otherKeys = () =>
  generateKeyPairSync('ed25519', {
    privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
    publicKeyEncoding: { format: 'pem', type: 'spki' },
  });

const ada: Caller = { subject: 'user-1', username: 'ada', scope: 'events:ingest', clientIp: '203.0.113.7' };

let running: RunningService<unknown>;

const get = async (path: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${running.url}${path}`, { headers });
  const text = await response.text();
  return { status: response.status, body: text && response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
};

const withAssertion = (token: string) => ({ [ASSERTION_HEADER]: token });

beforeAll(async () => {
  running = (await startService(definition, { env: testEnv(SERVICE) })) as RunningService<unknown>;
});

afterAll(async () => {
  await running?.close();
});

describe('a service behind the gateway', () => {
  it("lets a request with the gateway's assertion in, with the caller it names", async () => {
    const answer = await get('/whoami', await asCaller(SERVICE, { subject: 'user-1', username: 'ada', scope: 'events:ingest', clientIp: '203.0.113.7' }));
    expect(answer).toEqual({ status: 200, body: { caller: ada } });
    const publicCall = await get('/whoami', await asCaller(SERVICE));
    expect(publicCall.body).toEqual({ caller: { subject: null, username: null, scope: '', clientIp: '127.0.0.1' } });
    // An assertion for nobody passes the door, but not a route that needs a logged-in user.
    expect((await get('/mine', await asCaller(SERVICE))).status).toBe(401);
    expect(await get('/mine', await asCaller(SERVICE, { subject: 'user-1' }))).toEqual({ status: 200, body: { subject: 'user-1' } });
  });

  it('answers 401 to a request with no assertion, one for another service, one signed with another key, or an expired one', async () => {
    const now = Date.now();
    const forged = await new AssertionSigner(otherKeys().privateKey).sign(SERVICE, ada);
    const expired = await new AssertionSigner(TEST_INTERNAL_KEYS.privateKey).sign(SERVICE, ada, now - 120_000);
    const cases: Array<[string, Record<string, string>, string]> = [
      ['absent', {}, 'only the gateway may call this service: the request carries no assertion'],
      ['empty', withAssertion(''), 'only the gateway may call this service: the request carries no assertion'],
      ['another audience', await asCaller('users', { subject: 'user-1' }), 'assertion is not valid for this service'],
      ['another key', withAssertion(forged), 'assertion is not valid for this service'],
      ['expired', withAssertion(expired), 'assertion expired'],
      ['not a JWT', withAssertion('not.a.jwt'), 'assertion is not valid for this service'],
      ["an end user's bearer token in its place", withAssertion('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl'), 'assertion is not valid for this service'],
    ];
    for (const [what, headers, message] of cases) {
      for (const path of ['/whoami', '/mine', '/no-such-route']) {
        const answer = await get(path, headers);
        expect(answer, `${what} on ${path}`).toEqual({ status: 401, body: { error: 'unauthorized', message } });
      }
    }
  });

  it('answers /health and /metrics without an assertion', async () => {
    const health = await get('/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'pass' });
    const metrics = await fetch(`${running.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('# TYPE');
  });

  it('refuses to start without the public key, unless it is the edge service', async () => {
    const { INTERNAL_AUTH_PUBLIC_KEY: _omitted, ...env } = testEnv(SERVICE);
    await expect(startService(definition, { env })).rejects.toThrow(ConfigError);
    await expect(startService(definition, { env: { ...env, INTERNAL_AUTH_PUBLIC_KEY: 'not a key' } })).rejects.toThrow(ConfigError);
    const edge = await startService({ ...definition, name: 'edge-test', edge: true }, { env });
    try {
      const answer = await fetch(`${edge.url}/whoami`);
      expect(answer.status).toBe(200);
      // The edge authenticates clients itself: no caller is read from any header.
      expect(((await answer.json()) as { caller?: unknown }).caller).toBeUndefined();
    } finally {
      await edge.close();
    }
  });
});

describe('AssertionSigner and AssertionVerifier', () => {
  const signer = new AssertionSigner(TEST_INTERNAL_KEYS.privateKey);

  it('names one service as the audience: what one service received does not open another', async () => {
    const token = await signer.sign('notifications', ada);
    expect(await new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'notifications').verify(token)).toEqual(ada);
    await expect(new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'users').verify(token)).rejects.toThrow(InvalidTokenError);
    await expect(new AssertionVerifier(otherKeys().publicKey, 'notifications').verify(token)).rejects.toThrow('assertion is not valid for this service');
  });

  it('reuses an assertion per caller and upstream for a while, and signs a new one for anything else', async () => {
    const now = Date.now();
    const token = await signer.sign('users', ada, now);
    expect(await signer.sign('users', { ...ada }, now + 1_000)).toBe(token);
    expect(await signer.sign('analytics', ada, now + 1_000)).not.toBe(token);
    expect(await signer.sign('users', { ...ada, scope: '' }, now + 1_000)).not.toBe(token);
    expect(await signer.sign('users', { ...ada, clientIp: '203.0.113.8' }, now + 1_000)).not.toBe(token);
    // Past half its life a fresh one is signed, so that no upstream is handed one about to expire.
    expect(await signer.sign('users', ada, now + 31_000)).not.toBe(token);
  });

  it('remembers a verified assertion: the same caller again, until the assertion expires', async () => {
    const now = Date.now();
    const token = await signer.sign('analytics', { ...ada, subject: 'user-cache' }, now);
    const verifier = new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'analytics');
    const first = await verifier.verify(token, now);
    expect(first).toEqual({ ...ada, subject: 'user-cache' });
    expect(await verifier.verify(token, now + 1_000)).toBe(first);
    await expect(verifier.verify(token, now + 61_000)).rejects.toThrow('assertion expired');
  });
});

describe("the gateway's check of end users' tokens", () => {
  const secret = 'x'.repeat(40);

  it('accepts a good token again without a second signature check, and refuses it once it expired', async () => {
    const verifier = new AccessTokenVerifier(secret);
    const token = await signAccessToken({ sub: 'u1', username: 'ada', ver: 2 }, secret, 60);
    const now = Date.now();
    expect(await verifier.verify(token, now)).toEqual({ sub: 'u1', username: 'ada', ver: 2 });
    expect(await verifier.verify(token, now + 1_000)).toEqual({ sub: 'u1', username: 'ada', ver: 2 });
    await expect(verifier.verify(token, now + 61_000)).rejects.toThrow('token expired');
  });

  it('never remembers a bad token: a forged signature or another secret stays refused', async () => {
    const verifier = new AccessTokenVerifier(secret);
    const good = await signAccessToken({ sub: 'u1', username: 'ada' }, secret, 60);
    const [header, payload] = good.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'u2' })).toString('base64url')}.${good.split('.')[2]}`;
    for (let i = 0; i < 2; i++) await expect(verifier.verify(forged)).rejects.toBeInstanceOf(InvalidTokenError);
    const foreign = await signAccessToken({ sub: 'u1', username: 'ada' }, 'y'.repeat(40), 60);
    for (let i = 0; i < 2; i++) await expect(verifier.verify(foreign)).rejects.toBeInstanceOf(InvalidTokenError);
  });
});
