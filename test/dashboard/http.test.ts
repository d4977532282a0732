/** The dashboard's GET: one kept-alive connection per endpoint, bodies whatever the status, timeouts as errors. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { keepAliveGet } from '../../src/core/http';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ base: string; connections: () => number }> {
  let connections = 0;
  server = createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

describe('keepAliveGet', () => {
  it('polls over the same connection, and reads a failing /health’s body', async () => {
    const { base, connections } = await serve((request, response) => {
      response.statusCode = request.url === '/health' ? 503 : 200;
      response.end(request.url === '/health' ? '{"status":"fail"}' : 'up 1');
    });
    const get = keepAliveGet();
    try {
      for (let i = 0; i < 5; i++) {
        const health = await get(`${base}/health`, { signal: AbortSignal.timeout(2_000) });
        expect([health.ok, health.status, await health.text()]).toEqual([false, 503, '{"status":"fail"}']);
        expect(await (await get(`${base}/metrics`, { signal: AbortSignal.timeout(2_000) })).text()).toBe('up 1');
      }
      expect(connections()).toBe(1);
    } finally {
      get.close();
    }
  });

  it('a service that does not answer in time is an error', async () => {
    const { base } = await serve(() => undefined);
    const get = keepAliveGet();
    try {
      await expect(get(`${base}/health`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
    } finally {
      get.close();
    }
  });
});
