/**
 * The HTTP side of a service's life, on a real socket: /health answers with the status code
 * that probes and the supervisor act on, and a stopping service lets its clients close their
 * connections before it closes any.
 */
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { HealthReporter } from '../src/health';
import { createLogger } from '../src/logger';
import { ServiceMetrics } from '../src/metrics';
import { createServer, drainHttp } from '../src/server';
import { setTimeout as sleep } from 'node:timers/promises';

const breakerOptions = { timeoutMs: 100, resetMs: 10_000, errorThresholdPercent: 50, volumeThreshold: 1 };
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve() {
  const circuits = new CircuitRegistry(breakerOptions);
  const health = new HealthReporter('svc', '1', circuits);
  const app = createServer({ logger: createLogger('svc', 'silent'), metrics: new ServiceMetrics('svc'), health, bodyLimitBytes: 1024 });
  app.get('/fast', async () => ({ fast: true }));
  // Answers once `hold.release()` is called; `hold.started` resolves when a request is in.
  const hold = { release: () => undefined as void, started: undefined as unknown as Promise<void> };
  let started: () => void = () => undefined;
  hold.started = new Promise<void>((resolve) => (started = resolve));
  app.get('/hold', () =>
    new Promise((resolve) => {
      hold.release = () => resolve({ held: true });
      started();
    }),
  );
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  cleanups.push(() => circuits.shutdown(), () => app.close());
  return { app, health, url, hold };
}

describe('GET /health status codes', () => {
  it('answers 200 on pass and warn, 503 when a critical check fails and while shutting down', async () => {
    const { health, url } = await serve();
    const status = async () => (await fetch(`${url}/health`)).status;
    expect(await status()).toBe(200);

    health.addCheck({ name: 'optional', componentType: 'component', critical: false, probe: () => Promise.reject(new Error('refused')) });
    const warned = await fetch(`${url}/health`);
    expect(warned.status).toBe(200);
    expect(((await warned.json()) as { status: string }).status).toBe('warn');

    let down = true;
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: async () => (down ? Promise.reject(new Error('down')) : undefined) });
    const failing = await fetch(`${url}/health`);
    expect(failing.status).toBe(503);
    expect(((await failing.json()) as { status: string }).status).toBe('fail');
    down = false;
    expect(await status()).toBe(200);

    health.markShuttingDown();
    const stopping = await fetch(`${url}/health`);
    expect(stopping.status).toBe(503);
    expect(await stopping.json()).toMatchObject({ status: 'fail', description: 'svc is shutting down' });
  });
});

describe('a graceful stop', () => {
  it('keeps serving while draining, each answer closing its connection, and ends once no request comes', async () => {
    const { app, url } = await serve();
    const client = new Client(url);
    cleanups.push(() => client.close());
    const before = await client.request({ method: 'GET', path: '/fast' });
    expect(before.headers.connection).toBe('keep-alive');
    await before.body.text();

    const drained = drainHttp(app, { quietMs: 50, maxMs: 60_000 });
    const during = await client.request({ method: 'GET', path: '/fast' });
    expect(during.statusCode).toBe(200);
    expect(during.headers.connection).toBe('close');
    expect(await during.body.json()).toEqual({ fast: true });
    // Ends on the quiet, long before its 60 s bound.
    await expect(drained).resolves.toBeUndefined();
  });
});

describe('a request that arrives once close() has begun', () => {
  it('is served as any other, not refused with a bare 503 that has no Retry-After', async () => {
    const { app, url, hold } = await serve();
    // Two requests on one connection: the second waits in the socket while the first is held,
    // and reaches the router only after close() has begun (as one arriving on a kept-alive
    // connection does).
    const client = new Client(url, { pipelining: 2 });
    cleanups.push(() => client.close());
    const held = client.request({ method: 'GET', path: '/hold' });
    const late = client.request({ method: 'GET', path: '/fast' });
    await hold.started;
    const closing = app.close();
    await sleep(20);
    hold.release();
    expect((await held).statusCode).toBe(200);
    const answer = await late;
    expect(answer.statusCode).toBe(200);
    expect(await answer.body.json()).toEqual({ fast: true });
    await closing;
  });
});

describe('GET /metrics', () => {
  it('answers every family, or with ?name= only the families named (unknown names left out)', async () => {
    const { app } = await serve();
    await app.inject({ method: 'GET', url: '/fast' });
    const families = (text: string) => [...new Set(text.split('\n').filter((line) => line.startsWith('# TYPE ')).map((line) => line.split(' ')[2]))];
    const all = await app.inject({ method: 'GET', url: '/metrics' });
    expect(families(all.body)).toEqual(expect.arrayContaining(['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'http_request_duration_seconds']));
    const some = await app.inject({ method: 'GET', url: '/metrics?name=http_request_duration_seconds&name=process_resident_memory_bytes&name=no_such_family' });
    expect(some.statusCode).toBe(200);
    expect(some.headers['content-type']).toBe(all.headers['content-type']);
    expect(families(some.body)).toEqual(['http_request_duration_seconds', 'process_resident_memory_bytes']);
    expect(some.body).toMatch(/^http_request_duration_seconds_count\{service="svc",method="GET",route="\/fast",status_code="200"\} 1$/m);
    expect(families((await app.inject({ method: 'GET', url: '/metrics?name=process_resident_memory_bytes' })).body)).toEqual(['process_resident_memory_bytes']);
  });
});
