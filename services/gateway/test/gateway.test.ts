import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signAccessToken, startService, type RunningService } from '@msctl/kit';
import { TEST_JWT_SECRET, testEnv } from '@msctl/kit/testing';
import { gatewayService } from '../src/service';

/** A real HTTP upstream that echoes what the gateway sent it. */
let upstream: FastifyInstance;
let upstreamCalls = 0;
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
  upstream.all('/echo/*', async (request) => {
    upstreamCalls += 1;
    if (request.url.startsWith('/echo/fail')) throw Object.assign(new Error('boom'), { statusCode: 500 });
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

  it('rejects a forged or expired token', async () => {
    const forged = await signAccessToken({ sub: 'user-1', username: 'ada' }, 'x'.repeat(40), 60);
    expect((await call('/api/echo/x', {}, forged)).status).toBe(401);
    expect((await call('/api/echo/x', {}, 'not.a.jwt')).status).toBe(401);
  });

  it('lets the public routes through without a token', async () => {
    const response = await call('/api/echo/open', { method: 'POST', body: '{"a":1}', headers: { 'content-type': 'application/json' } }, null);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ url: '/echo/open', method: 'POST', body: { a: 1 } });
  });

  it('forwards method, path, query and body, sets the verified identity and strips a forged one', async () => {
    const response = await call('/api/echo/items?limit=5', {
      method: 'PATCH',
      body: JSON.stringify({ name: 'x' }),
      headers: { 'content-type': 'application/json', 'x-auth-subject': 'someone-else' },
    });
    expect(response.status).toBe(200);
    const echoed = (await response.json()) as { url: string; method: string; headers: Record<string, string>; body: unknown };
    expect(echoed).toMatchObject({ url: '/echo/items?limit=5', method: 'PATCH', body: { name: 'x' } });
    expect(echoed.headers['x-auth-subject']).toBe('user-1');
    expect(echoed.headers['x-auth-username']).toBe('ada');
    expect(echoed.headers.authorization).toBeUndefined();
  });

  it('answers 404 for a path no service routes', async () => {
    expect((await call('/api/nothing-here')).status).toBe(404);
  });

  it('relays an upstream 5xx and, after enough of them, opens that upstream breaker: 503 at once, no call', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10 && statuses.at(-1) !== 503; i++) statuses.push((await call('/api/echo/fail')).status);
    expect(statuses[0]).toBe(500);
    expect(statuses.at(-1)).toBe(503);
    const before = upstreamCalls;
    const started = performance.now();
    const rejected = await call('/api/echo/x');
    expect(rejected.status).toBe(503);
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(500);
    expect(upstreamCalls).toBe(before);
    const health = (await (await fetch(`${gateway.url}/health`)).json()) as { status: string; circuits: Array<{ name: string; state: string }> };
    expect(health.status).toBe('warn');
    expect(health.circuits.find((c) => c.name === 'upstream:echo')?.state).toBe('open');
  });

  it('answers 502 for an upstream that cannot be reached', async () => {
    expect((await call('/api/gone/x')).status).toBe(502);
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
  it('answers 429 with Retry-After past the per-client limit', async () => {
    const limited = await startGateway({ RATE_LIMIT_PER_SECOND: '3' });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 6; i++) {
        const response = await fetch(`${limited.url}/api/echo/open`, { method: 'POST' });
        statuses.push(response.status);
        if (response.status === 429) retryAfter = response.headers.get('retry-after');
      }
      expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
      expect(statuses.slice(3)).toContain(429);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});
