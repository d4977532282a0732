import { Pool, type Dispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';
import { traceHttpClient } from '@msctl/kit';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);
const CLOSED_UNDER_US = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

/** A 5xx from an upstream: counted as a failure by its breaker, still relayed to the client. */
export class UpstreamFailure extends Error {
  override readonly name = 'UpstreamFailure';
  constructor(readonly response: UpstreamResponse) {
    super(`upstream answered ${response.statusCode}`);
  }
}

/** Keep-alive connection pools to every upstream. */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly timeoutMs: number) {}

  pool(url: string): Pool {
    let pool = this.pools.get(url);
    if (!pool) {
      pool = new Pool(url, {
        connections: 128,
        pipelining: 1,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connectTimeout: Math.min(this.timeoutMs, 2_000),
        keepAliveTimeout: 4_000,
      });
      this.pools.set(url, pool);
    }
    return pool;
  }

  async forward(
    url: string,
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<UpstreamResponse> {
    // A client span around the upstream call; the forwarded traceparent names it (kit tracing.ts).
    return traceHttpClient({ method, url, path }, headers, async (traced) => {
      const options: Dispatcher.DispatchOptions = {
        method: method as Dispatcher.HttpMethod,
        path,
        headers: traced,
        body: body && body.length > 0 ? body : undefined,
      };
      // A kept-alive connection the upstream closed as the request left (it is stopping, or
      // the connection idled out): an idempotent request is sent once more, on a new
      // connection, as HTTP clients do (RFC 9110 §9.2.2). Others may have been applied.
      const result = await exchange(this.pool(url), options).catch((error: unknown) => {
        if (IDEMPOTENT.has(method) && CLOSED_UNDER_US.has((error as { code?: string }).code ?? '')) return exchange(this.pool(url), options);
        throw error;
      });
      if (result.statusCode >= 500) throw new UpstreamFailure(result);
      return result;
    });
  }

  /**
   * GET /health on one of the upstream's kept-alive connections, its body read to the end so
   * that the connection serves the next call; throws unless the upstream answered 2xx.
   */
  async health(url: string, timeoutMs: number): Promise<void> {
    const response = await this.pool(url).request({ method: 'GET', path: '/health', signal: AbortSignal.timeout(timeoutMs) });
    await response.body.dump();
    if (response.statusCode < 200 || response.statusCode >= 300) throw new Error(`answered ${response.statusCode}`);
  }

  /** Instances no longer routed to: each pool closes once its requests in flight are answered. */
  async retire(urls: string[]): Promise<void> {
    await Promise.all(
      urls.map((url) => {
        const pool = this.pools.get(url);
        this.pools.delete(url);
        return pool?.close();
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }
}

/**
 * One request on `pool`, its answer gathered whole, through undici's dispatch handler: the
 * gateway relays a body whole, so it does without the response stream (and the promises
 * around it) that `request()` builds for every answer: a GET answered by a node:http server in
 * another process, 16 in flight, cost the calling process 40–48 µs of CPU with `request()` and
 * 26–33 µs this way.
 */
function exchange(pool: Pool, options: Dispatcher.DispatchOptions): Promise<UpstreamResponse> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    pool.dispatch(options, {
      onRequestStart() {},
      onResponseStart(_controller, status, incoming) {
        // A 1xx before the answer is not the answer.
        statusCode = status;
        headers = responseHeaders(incoming);
        chunks.length = 0;
      },
      onResponseData(_controller, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        resolve({ statusCode, headers, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) });
      },
      onResponseError(_controller, error) {
        reject(error);
      },
    });
  });
}

/** The client's headers minus hop-by-hop ones and any identity headers the gateway alone may set. */
export function requestHeaders(incoming: IncomingHttpHeaders, strippedPrefixes: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name) || strippedPrefixes.some((prefix) => name.startsWith(prefix))) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function responseHeaders(incoming: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value;
  }
  return headers;
}
