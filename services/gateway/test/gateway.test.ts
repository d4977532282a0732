import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { ASSERTION_HEADER, CREDENTIALS_VERSION_HEADER, AssertionSigner, AssertionVerifier, signAccessToken, signControlToken, startService, type CircuitSnapshot, type RunningService } from '@msctl/kit';
import { TEST_INTERNAL_KEYS, TEST_JWT_SECRET, asCaller, testEnv } from '@msctl/kit/testing';
import { gatewayService } from '../src/service';
import { setTimeout as sleep } from 'node:timers/promises';

/** 3 MiB that no two offsets repeat in a row: a piece lost, doubled or out of order shows. */
const LARGE_BODY = Buffer.alloc(3 * 1024 * 1024, 0).map((_, i) => (i * 7 + (i >> 8)) & 0xff);

/** A real HTTP upstream that echoes what the gateway sent it. */
let upstream: FastifyInstance;
let upstreamCalls = 0;
const dropped = new Set<string>();
let gateway: RunningService<unknown>;
let token: string;

async function startGateway(extra: Record<string, string>): Promise<RunningService<unknown>> {
  const address = upstream.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const routes = [
    { upstream: 'echo', urls: [`http://127.0.0.1:${port}`], prefix: '/api/echo', upstreamPath: '/echo', public: ['POST /api/echo/open'] },
    { upstream: 'gone', urls: ['http://127.0.0.1:9'], prefix: '/api/gone', upstreamPath: '/', public: [] },
  ];
  return (await startService(gatewayService, {
    env: testEnv('gateway', { extra: { GATEWAY_ROUTES: JSON.stringify(routes), BREAKER_VOLUME_THRESHOLD: '2', BREAKER_RESET_MS: '60000', ...extra } }),
  })) as RunningService<unknown>;
}

beforeAll(async () => {
  upstream = Fastify();
  upstream.all('/echo/*', async (request, reply) => {
    upstreamCalls += 1;
    if (request.url.startsWith('/echo/fail')) throw Object.assign(new Error('boom'), { statusCode: 500 });
    // Larger than one socket read, with a header repeated: the answer reaches the gateway in pieces.
    if (request.url.startsWith('/echo/large')) return reply.header('set-cookie', ['a=1', 'b=2']).header('x-upstream', 'echo').type('application/octet-stream').send(LARGE_BODY);
    // The connection is closed under the request the first time each URL is asked for.
    if (request.url.startsWith('/echo/drop-once/') && !dropped.has(request.url)) {
      dropped.add(request.url);
      request.raw.socket.destroy();
      return new Promise(() => undefined);
    }
    return { url: request.url, method: request.method, headers: request.headers, body: request.body ?? null };
  });
  await upstream.listen({ host: '127.0.0.1', port: 0 });
  gateway = await startGateway({ RATE_LIMIT_PER_SECOND: '1000' });
  token = await signAccessToken({ sub: 'user-1', username: 'ada' }, TEST_JWT_SECRET, 60);
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

type HealthBody = { status: string; circuits: CircuitSnapshot[] };
type Echoed = { url: string; method: string; headers: Record<string, string | undefined>; body: unknown };

/** How an upstream named echo checks what the gateway sent it. */
const echoVerifier = new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'echo');

const call = (path: string, init: RequestInit = {}, bearer: string | null = token) =>
  fetch(`${gateway.url}${path}`, {
    ...init,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(init.headers as Record<string, string>) },
  });

describe('gateway', () => {
  it('rejects a request without a token with 401 and WWW-Authenticate, without calling the upstream', async () => {
    const before = upstreamCalls;
    const response = await call('/api/echo/x', {}, null);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(upstreamCalls).toBe(before);
  });

  it('rejects a forged, expired or malformed token with 401, without calling the upstream', async () => {
    const forged = await signAccessToken({ sub: 'user-1', username: 'ada' }, 'x'.repeat(40), 60);
    const expired = await signAccessToken({ sub: 'user-1', username: 'ada' }, TEST_JWT_SECRET, -60);
    const before = upstreamCalls;
    for (const [bearer, message] of [
      [forged, 'token is not valid'],
      [expired, 'token expired'],
      ['not.a.jwt', 'token is not valid'],
    ] as const) {
      const response = await call('/api/echo/x', {}, bearer);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      expect(await response.json()).toEqual({ error: 'unauthorized', message });
    }
    expect(upstreamCalls).toBe(before);
  });

  it('lets the public routes through without a token, with an assertion that names nobody', async () => {
    const forged = await asCaller('echo', { subject: 'someone-else' });
    const response = await call('/api/echo/open', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json', ...forged } }, null);
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as Echoed;
    expect(echoed).toMatchObject({ url: '/echo/open', method: 'POST', body: { a: 1 } });
    expect(echoed.headers[ASSERTION_HEADER]).not.toBe(forged[ASSERTION_HEADER]);
    expect(await echoVerifier.verify(echoed.headers[ASSERTION_HEADER]!)).toEqual({ subject: null, username: null, scope: '', clientIp: '127.0.0.1' });
  });

  it('forwards method, path, query and body with its own assertion of the verified identity, never one a client sent', async () => {
    // Even an assertion the gateway's own key signed, for this upstream, is dropped when a client sends it.
    const forged = await asCaller('echo', { subject: 'someone-else', username: 'mallory', scope: 'events:ingest' });
    const response = await call('/api/echo/items?limit=5', {
      method: 'PATCH',
      body: JSON.stringify({ name: 'x' }),
      headers: { 'content-type': 'application/json', 'x-auth-subject': 'someone-else', 'x-auth-username': 'mallory', 'X-Auth-Scope': 'admin', ...forged },
    });
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as Echoed;
    expect(echoed).toMatchObject({ url: '/echo/items?limit=5', method: 'PATCH', body: { name: 'x' } });
    const assertion = echoed.headers[ASSERTION_HEADER]!;
    expect(assertion).not.toBe(forged[ASSERTION_HEADER]);
    expect(await echoVerifier.verify(assertion)).toEqual({ subject: 'user-1', username: 'ada', scope: '', clientIp: '127.0.0.1' });
    // Made for the echo upstream alone.
    await expect(new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'gone').verify(assertion)).rejects.toThrow('not valid for this service');
    expect(Object.keys(echoed.headers).filter((name) => name.startsWith('x-auth-'))).toEqual([]);
    expect(echoed.headers.authorization).toBeUndefined();
  });

  it('relays an answer that arrives in many pieces whole, with its repeated headers', async () => {
    const response = await call('/api/echo/large');
    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(response.headers.get('x-upstream')).toBe('echo');
    const body = Buffer.from(await response.arrayBuffer());
    expect(body.length).toBe(LARGE_BODY.length);
    expect(body.equals(LARGE_BODY)).toBe(true);
  });

  it('answers 404 for a path no service routes', async () => {
    expect((await call('/api/nothing-here')).status).toBe(404);
  });

  it('sends an idempotent request once more when the connection closes under it, and answers 502 for any other', async () => {
    const before = upstreamCalls;
    const read = await call('/api/echo/drop-once/read');
    expect(read.status).toBe(200);
    expect(((await read.json()) as { url: string }).url).toBe('/echo/drop-once/read');
    expect(upstreamCalls).toBe(before + 2);

    const write = await call('/api/echo/drop-once/write', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
    expect(write.status).toBe(502);
    expect(await write.json()).toMatchObject({ error: 'upstream_unreachable' });
    expect(upstreamCalls).toBe(before + 3);
  });

  it('relays an upstream 5xx and, after enough of them, opens that upstream breaker: 503 at once, no call', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10 && statuses.at(-1) !== 503; i++) statuses.push((await call('/api/echo/fail')).status);
    expect(statuses[0]).toBe(500);
    expect(statuses.at(-1)).toBe(503);
    const echoCircuit = async () => {
      const health = (await (await fetch(`${gateway.url}/health`)).json()) as HealthBody;
      return { status: health.status, circuit: health.circuits.find((c) => c.name === 'upstream:echo')! };
    };
    const before = upstreamCalls;
    const rejectsBefore = (await echoCircuit()).circuit.stats.rejects;
    const rejected = await call('/api/echo/x');
    expect(rejected.status).toBe(503);
    expect(await rejected.json()).toMatchObject({ error: 'unavailable' });
    const retryAfter = Number(rejected.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60); // the breaker retries after BREAKER_RESET_MS, 60 s
    // Refused by the open breaker itself (one more counted reject): nothing was sent upstream or waited for.
    expect(upstreamCalls).toBe(before);
    const after = await echoCircuit();
    expect(after.circuit.state).toBe('open');
    expect(after.circuit.stats.rejects).toBe(rejectsBefore + 1);
    expect(after.status).toBe('warn');
  });

  it('answers 503 with Retry-After for an upstream that refuses connections: nothing was sent, so sending again is safe', async () => {
    const response = await call('/api/gone/x');
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ error: 'upstream_unavailable' });
  });

  it('reports every upstream in /health', async () => {
    const response = await fetch(`${gateway.url}/health`);
    expect(response.headers.get('content-type')).toMatch(/^application\/health\+json/);
    const health = (await response.json()) as { checks: Record<string, Array<{ status: string }>> };
    expect(health.checks['echo:health']?.[0]?.status).toBe('fail'); // the echo upstream has no /health
    expect(health.checks['gone:health']?.[0]?.status).toBe('fail');
  });
});

describe('gateway rate limit', () => {
  it('answers 429 with Retry-After past the per-client limit, and lets the client in again in the next second', async () => {
    const limited = await startGateway({ RATE_LIMIT_PER_SECOND: '3' });
    // The limiter's window is read from Date.now(): held still, all six requests fall in one
    // second however slowly they are sent, and the next second comes when the test says so.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const send = async () => {
        const response = await fetch(`${limited.url}/api/echo/open`, { method: 'POST' });
        return { status: response.status, retryAfter: response.headers.get('retry-after') };
      };
      const answers: Array<{ status: number; retryAfter: string | null }> = [];
      for (let i = 0; i < 6; i++) answers.push(await send());
      expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 429, 429, 429]);
      expect(answers.slice(3).map((answer) => answer.retryAfter)).toEqual(['1', '1', '1']);
      vi.setSystemTime(Date.now() + 1_000);
      expect((await send()).status).toBe(200);
    } finally {
      vi.useRealTimers();
      await limited.close();
    }
  });
});

describe('gateway and revoked tokens', () => {
  /** Stands in for users: checks the assertion as the real one does, and keeps each user's credentials version. */
  let users: FastifyInstance;
  let revoking: RunningService<unknown>;
  const versions = new Map<string, number>();
  const lookups: string[] = [];
  let lookupsFail = false;
  const usersVerifier = new AssertionVerifier(TEST_INTERNAL_KEYS.publicKey, 'users');

  const tokenFor = (sub: string, ver?: number) => signAccessToken({ sub, username: sub, ver }, TEST_JWT_SECRET, 60);
  const send = async (bearer: string, method = 'GET', path = '/api/users/me') => {
    const response = await fetch(`${revoking.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(method === 'PATCH' ? { 'content-type': 'application/json' } : {}) },
      body: method === 'PATCH' ? JSON.stringify({ password: 'a-new-password', currentPassword: 'the-old-one' }) : undefined,
    });
    const text = await response.text();
    return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: text ? JSON.parse(text) : undefined };
  };
  const expectRevoked = (answer: Awaited<ReturnType<typeof send>>) => {
    expect(answer.status).toBe(401);
    expect(answer.wwwAuthenticate).toBe('Bearer error="invalid_token"');
    expect(answer.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(/^token revoked/) });
  };

  beforeAll(async () => {
    users = Fastify();
    users.decorateRequest('subject', '');
    users.addHook('onRequest', async (request, reply) => {
      const caller = await usersVerifier.verify(String(request.headers[ASSERTION_HEADER] ?? '')).catch(() => undefined);
      if (!caller?.subject) return reply.status(401).send({ error: 'unauthorized' });
      (request as unknown as { subject: string }).subject = caller.subject;
    });
    const subjectOf = (request: unknown) => (request as { subject: string }).subject;
    users.get('/users/me/credentials', async (request, reply) => {
      const subject = subjectOf(request);
      lookups.push(subject);
      if (lookupsFail) return reply.status(500).send({ error: 'internal' });
      const version = versions.get(subject);
      return version === undefined ? reply.status(404).send({ error: 'not_found' }) : { credentialsVersion: version };
    });
    users.get('/users/me', async (request) => ({ id: subjectOf(request) }));
    users.patch('/users/:id', async (request, reply) => {
      const subject = subjectOf(request);
      const version = (versions.get(subject) ?? 0) + 1;
      versions.set(subject, version);
      // As users answers; an issuer that does not say is asked again instead.
      if (!subject.startsWith('u-untold')) void reply.header(CREDENTIALS_VERSION_HEADER, String(version));
      return { id: subject };
    });
    users.delete('/users/:id', async (request, reply) => {
      versions.delete(subjectOf(request));
      return reply.status(204).send();
    });
    await users.listen({ host: '127.0.0.1', port: 0 });
    const address = users.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const routes = [{ upstream: 'users', urls: [`http://127.0.0.1:${port}`], prefix: '/api/users', upstreamPath: '/users', public: [] }];
    revoking = (await startService(gatewayService, {
      env: testEnv('gateway', { extra: { GATEWAY_ROUTES: JSON.stringify(routes), CREDENTIALS_CACHE_MS: '1000', RATE_LIMIT_PER_SECOND: '1000' } }),
    })) as RunningService<unknown>;
  });

  afterAll(async () => {
    await revoking?.close();
    await users?.close();
  });

  it('lets a token of the current version in, asking users once per CREDENTIALS_CACHE_MS', async () => {
    versions.set('u-current', 1);
    const token = await tokenFor('u-current', 1);
    expect((await send(token)).body).toEqual({ id: 'u-current' });
    expect((await send(token)).status).toBe(200);
    expect(lookups.filter((subject) => subject === 'u-current')).toHaveLength(1);
  });

  it('refuses an old token with 401 as soon as it relayed the password change, and lets the new one in', async () => {
    versions.set('u-patch', 1);
    const old = await tokenFor('u-patch', 1);
    expect((await send(old)).status).toBe(200);
    const changed = await fetch(`${revoking.url}/api/users/u-patch`, { method: 'PATCH', headers: { authorization: `Bearer ${old}` } });
    expect(changed.status).toBe(200);
    // The version users' answer told is the gateway's own business.
    expect(changed.headers.get(CREDENTIALS_VERSION_HEADER)).toBeNull();
    await changed.text();
    expect(versions.get('u-patch')).toBe(2);
    const asked = lookups.filter((subject) => subject === 'u-patch').length;
    expectRevoked(await send(old));
    expect((await send(await tokenFor('u-patch', 2))).status).toBe(200);
    // Learnt from the answer: nothing asked after the change.
    expect(lookups.filter((subject) => subject === 'u-patch')).toHaveLength(asked);
  });

  it('an answer that does not tell the version: the next request asks users again', async () => {
    versions.set('u-untold', 1);
    const old = await tokenFor('u-untold', 1);
    expect((await send(old)).status).toBe(200);
    expect((await send(old, 'PATCH', '/api/users/u-untold')).status).toBe(200);
    expectRevoked(await send(old));
    expect(lookups.filter((subject) => subject === 'u-untold')).toHaveLength(2);
  });

  it('refuses the token of a deleted user with 401 as soon as it relayed the delete', async () => {
    versions.set('u-delete', 1);
    const token = await tokenFor('u-delete', 1);
    expect((await send(token, 'DELETE', '/api/users/u-delete')).status).toBe(204);
    expectRevoked(await send(token));
  });

  it('sees a change relayed by another gateway within CREDENTIALS_CACHE_MS', async () => {
    versions.set('u-elsewhere', 1);
    const old = await tokenFor('u-elsewhere', 1);
    expect((await send(old)).status).toBe(200);
    versions.set('u-elsewhere', 2);
    expect((await send(old)).status).toBe(200);
    await sleep(1_100);
    expectRevoked(await send(old));
  });

  it('answers 503 when users cannot tell and nothing is known; a token without ver (a service client) is not checked', async () => {
    lookupsFail = true;
    try {
      versions.set('u-unknown', 1);
      const answer = await send(await tokenFor('u-unknown', 1));
      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ error: 'unavailable' });
      const before = lookups.length;
      expect((await send(await tokenFor('svc-client'))).body).toEqual({ id: 'svc-client' });
      expect(lookups).toHaveLength(before);
    } finally {
      lookupsFail = false;
    }
  });
});

describe('the routing table msctl sends (blue-green switch)', () => {
  /** Two instances of one upstream, as a restart starts the new one (green) on another port. */
  let blue: FastifyInstance;
  let green: FastifyInstance;
  let blueSlowAnswered = 0;
  // An upstream of its own: the tests above left echo's breaker open.
  const echoRoute = (url: string) => ({ upstream: 'bg', urls: [url], prefix: '/api/bg', upstreamPath: '/echo', public: [] });
  const put = (body: unknown, bearer: string | null) =>
    fetch(`${gateway.url}/_msctl/routes`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    green = Fastify();
    green.all('/echo/*', async () => ({ instance: 'green' }));
    await green.listen({ host: '127.0.0.1', port: 0 });
    blue = Fastify();
    blue.all('/echo/*', async () => ({ instance: 'blue' }));
    blue.get('/slow/*', async () => {
      await sleep(400);
      blueSlowAnswered = Date.now();
      return { instance: 'blue' };
    });
    await blue.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await green?.close();
    await blue?.close();
  });

  const urlOf = (server: FastifyInstance) => `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;

  it('refuses a table without a control token, with a forged one, or with a gateway assertion', async () => {
    const other = generateKeyPairSync('ed25519', { privateKeyEncoding: { format: 'pem', type: 'pkcs8' }, publicKeyEncoding: { format: 'pem', type: 'spki' } });
    const assertion = await new AssertionSigner(TEST_INTERNAL_KEYS.privateKey).sign('gateway', { subject: 'x', username: null, scope: '', clientIp: null });
    const body = { version: 1, routes: [echoRoute('http://127.0.0.1:9')] };
    for (const bearer of [null, await signControlToken(other.privateKey), assertion, token]) {
      expect((await put(body, bearer)).status).toBe(401);
    }
    expect((await call('/api/bg/x')).status).toBe(404);
  });

  it('refuses what is not a routing table with 400', async () => {
    const response = await put({ version: 1, routes: [{ upstream: 'echo' }] }, await signControlToken(TEST_INTERNAL_KEYS.privateKey));
    expect(response.status).toBe(400);
  });

  it('routes the next request to the new instance, and answers once the old one has answered what it had', async () => {
    const [blueUrl, greenUrl] = [urlOf(blue), urlOf(green)];
    const slowRoute = { upstream: 'bg', urls: [blueUrl], prefix: '/api/slow', upstreamPath: '/slow', public: [] };
    const control = await signControlToken(TEST_INTERNAL_KEYS.privateKey);
    expect((await put({ version: 2, routes: [echoRoute(blueUrl), slowRoute] }, control)).status).toBe(200);
    expect(await (await call('/api/bg/x')).json()).toEqual({ instance: 'blue' });
    const inFlight = call('/api/slow/x');
    await sleep(100);
    const switched = await put({ version: 3, routes: [echoRoute(greenUrl), { ...slowRoute, urls: [greenUrl] }] }, control);
    const switchedAt = Date.now();
    expect(switched.status).toBe(200);
    expect(await switched.json()).toEqual({ version: 3, upstreams: { bg: [greenUrl] } });
    expect(switchedAt).toBeGreaterThanOrEqual(blueSlowAnswered);
    expect(blueSlowAnswered).toBeGreaterThan(0);
    expect((await inFlight).status).toBe(200);
    expect(await (await call('/api/bg/now')).json()).toEqual({ instance: 'green' });
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { checks: Record<string, unknown> };
    expect(Object.keys(health.checks).filter((name) => name.startsWith('bg') || name.startsWith('echo'))).toEqual(['bg:health']);
    expect(Object.keys(health.checks)).not.toContain('gone:health');
  });

  it('ignores a table older than the one in use', async () => {
    const control = await signControlToken(TEST_INTERNAL_KEYS.privateKey);
    const answer = await put({ version: 1, routes: [echoRoute('http://127.0.0.1:9')] }, control);
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { version: number }).version).toBe(3);
    expect(await (await call('/api/bg/again')).json()).toEqual({ instance: 'green' });
  });
});

describe('gateway health probes of its upstreams', () => {
  /** An upstream that counts the /health calls it answered and the connections they came on. */
  async function countingUpstream() {
    const server = Fastify();
    const seen = { probes: 0, connections: 0 };
    server.server.on('connection', () => {
      seen.connections += 1;
    });
    server.get('/health', async () => {
      seen.probes += 1;
      return { status: 'pass' };
    });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const address = server.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return { server, seen, url };
  }

  const startWith = (url: string, extra: Record<string, string>) =>
    startService(gatewayService, {
      env: testEnv('gateway', { extra: { GATEWAY_ROUTES: JSON.stringify([{ upstream: 'probed', urls: [url], prefix: '/api/probed', upstreamPath: '/', public: [] }]), ...extra } }),
    }) as Promise<RunningService<unknown>>;

  it('asks each upstream on a kept-alive connection, not a new one per /health', async () => {
    const upstream = await countingUpstream();
    const probing = await startWith(upstream.url, { HEALTH_PROBE_MAX_AGE_MS: '0' });
    try {
      for (let i = 0; i < 5; i++) {
        const health = (await (await fetch(`${probing.url}/health`)).json()) as { checks: Record<string, Array<{ status: string }>> };
        expect(health.checks['probed:health']?.[0]?.status).toBe('pass');
      }
      expect(upstream.seen.probes).toBe(5);
      expect(upstream.seen.connections).toBe(1);
    } finally {
      await probing.close();
      await upstream.server.close();
    }
  });

  it('answers the callers of one window with one probe (HEALTH_PROBE_MAX_AGE_MS)', async () => {
    const upstream = await countingUpstream();
    const probing = await startWith(upstream.url, { HEALTH_PROBE_MAX_AGE_MS: '60000' });
    try {
      const before = upstream.seen.probes;
      const answers = await Promise.all([1, 2, 3].map(() => fetch(`${probing.url}/health`)));
      for (const answer of answers) expect(answer.status).toBe(200);
      await fetch(`${probing.url}/health`);
      expect(upstream.seen.probes - before).toBeLessThanOrEqual(1);
    } finally {
      await probing.close();
      await upstream.server.close();
    }
  });
});
