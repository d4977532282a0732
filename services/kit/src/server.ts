import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyError, type FastifyReply } from 'fastify';
import { ZodError } from 'zod';
import { CircuitOpenError } from './circuit-breaker';
import { HEALTH_CONTENT_TYPE, type HealthReporter } from './health';
import { HttpError } from './http-errors';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';
import type { Tracing } from './tracing';
import { traceHttpServer } from './tracing-http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerOptions {
  logger: Logger;
  metrics: ServiceMetrics;
  health: HealthReporter;
  bodyLimitBytes: number;
  /** A server span per request (tracing-http.ts). */
  tracing?: Tracing;
  /** A request slower than this is logged as a warning (default 1,000 ms). */
  slowRequestMs?: number;
}

/**
 * How long an idle kept-alive connection stays open, advertised as `Keep-Alive: timeout=3`;
 * undici (the gateway's client, fetch) closes its idle connections 2 s before a server's hint,
 * so after 1 s here (fastify's default hint is 72 s). Closing a kept-alive connection from this
 * side races with a request already on its way on it, which the client sees as a reset and
 * cannot safely send again if it is a POST. So a stopping service drains for longer than its
 * clients keep a connection idle (SHUTDOWN_DRAIN_MS, 1.5 s): by the time it closes, they have
 * closed every connection they were not using, and answered ones said `Connection: close`.
 */
const KEEP_ALIVE_MS = 3_000;

/** Reads that went well are the bulk of the traffic and tell little: logged at debug. */
const QUIET_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface ErrorBody {
  error: string;
  message: string;
  details?: unknown;
}

/**
 * fastify with the kit's contract: request logs (changes and refusals at info, slow requests as
 * warnings, reads that went well at debug), a body limit, GET /health
 * (application/health+json, 503 when failing), GET /metrics (Prometheus text), a duration
 * histogram per route, and one error handler that turns known errors into JSON answers:
 * validation → 400, HttpError → its status, an open breaker or an unreachable dependency →
 * 503 with Retry-After.
 */
export function createServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    bodyLimit: options.bodyLimitBytes,
    // Request logs are written once per request by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    // A request that reaches the server after close() began (on a connection accepted just
    // before) is served as any other, with `Connection: close`: the service is whole until the
    // server has closed. Fastify's own answer would be a bare 503 without Retry-After.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    keepAliveTimeout: KEEP_ALIVE_MS,
    // A request keeps the id the gateway gave it across every hop; a new one gets a UUID.
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // The router's own refusals (a malformed URL, a path parameter over 100 characters) answer
    // in the one error shape too, not fastify's default {error, code, message, statusCode}.
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = toErrorAnswer(error);
      void (reply as FastifyReply).status(status).send(body);
    },
  });
  if (options.tracing) traceHttpServer(app, options.tracing);

  const slowRequestMs = options.slowRequestMs ?? 1_000;
  const lifecycle: Lifecycle = { draining: false, lastRequestAt: 0 };
  lifecycles.set(app, lifecycle);
  // Hooks on every request take fastify's callback form: an async hook costs a promise and a
  // microtask per request, and these never wait on anything.
  app.addHook('onRequest', (_request, reply, done) => {
    if (lifecycle.draining) {
      lifecycle.lastRequestAt = performance.now();
      // The client closes the connection after this answer, so this side never closes one that
      // a request may be travelling on (which the client could only see as a reset).
      void reply.header('connection', 'close');
    }
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    options.metrics.httpDuration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, seconds);
    if (route !== '/health' && route !== '/metrics') {
      // Every change and every refusal at info, a slow request as a warning; a read that went
      // well at debug (LOG_LEVEL=debug logs every request).
      const slow = reply.elapsedTime >= slowRequestMs;
      const level = slow ? 'warn' : QUIET_METHODS.has(request.method) && reply.statusCode < 400 ? 'debug' : 'info';
      if (options.logger.isLevelEnabled(level)) {
        request.log[level]({ method: request.method, url: request.url, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, slow ? 'slow request' : 'request');
      }
    }
    done();
  });

  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    const { status, body, retryAfter } = toErrorAnswer(error);
    if (status >= 500 && status !== 502 && status !== 503 && status !== 504) request.log.error({ err: error }, 'request failed');
    else if (status >= 502) request.log.warn({ err: error.message }, 'dependency unavailable');
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    void reply.status(status).send(body);
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url}` });
  });

  app.get('/health', async (_request, reply) => {
    const report = await options.health.report();
    return reply
      .status(report.status === 'fail' ? 503 : 200)
      .header('content-type', HEALTH_CONTENT_TYPE)
      .header('cache-control', 'no-store')
      .send(JSON.stringify(report));
  });

  // `?name=<family>` (repeated) answers only those families (ServiceMetrics.render).
  app.get('/metrics', async (request, reply) => {
    const { name } = request.query as { name?: string | string[] };
    const text = await options.metrics.render(name === undefined ? undefined : Array.isArray(name) ? name : [name]);
    return reply.header('content-type', options.metrics.registry.contentType).send(text);
  });

  return app;
}

interface Lifecycle {
  draining: boolean;
  lastRequestAt: number;
}
const lifecycles = new WeakMap<FastifyInstance, Lifecycle>();

/** How long undici keeps a connection idle under our hint: 2 s less than it (see KEEP_ALIVE_MS). */
const CLIENT_IDLE_MS = KEEP_ALIVE_MS - 2_000;

/**
 * The first step of a graceful stop, before `app.close()`: requests are still served, each
 * answer saying `Connection: close`, until no connection is open, or no request has come for
 * `quietMs`, at most `maxMs`. Clients then close the connections they were using themselves;
 * closing a kept-alive connection from this side races with a request already on its way, which
 * the caller sees as a reset it cannot safely retry. So the quiet that ends a drain is longer
 * than clients keep a connection idle: a pause in the traffic (a slow moment under load) no
 * longer ends it while they still hold connections they may send on.
 */
export async function drainHttp(app: FastifyInstance, { quietMs = CLIENT_IDLE_MS + 200, maxMs }: { quietMs?: number; maxMs: number }): Promise<void> {
  const lifecycle = lifecycles.get(app);
  if (!lifecycle || lifecycle.draining) return;
  lifecycle.draining = true;
  const started = performance.now();
  lifecycle.lastRequestAt = started;
  const openConnections = () => new Promise<number>((resolve) => app.server.getConnections((error, count) => resolve(error ? 0 : count)));
  while (performance.now() - started < maxMs) {
    if ((await openConnections()) === 0 || performance.now() - lifecycle.lastRequestAt >= quietMs) return;
    await sleep(Math.min(25, quietMs));
  }
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P03']);

export function toErrorAnswer(error: unknown): { status: number; body: ErrorBody; retryAfter?: number } {
  if (error instanceof HttpError) {
    const body: ErrorBody = { error: error.code, message: error.message };
    if (error.details !== undefined) body.details = error.details;
    return { status: error.statusCode, body, retryAfter: error.retryAfterSeconds };
  }
  if (error instanceof ZodError) {
    return {
      status: 400,
      body: {
        error: 'bad_request',
        message: 'the request is not valid',
        details: error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
      },
    };
  }
  if (error instanceof CircuitOpenError) {
    return {
      status: 503,
      body: { error: 'unavailable', message: `${error.breaker} is unavailable; try again later` },
      retryAfter: Math.max(1, Math.ceil(error.retryInMs / 1000)),
    };
  }
  const fastifyError = error as FastifyError;
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode < 500) {
    return {
      status: fastifyError.statusCode,
      body: { error: fastifyError.code ?? 'bad_request', message: fastifyError.message },
    };
  }
  const code = (error as { code?: string }).code;
  // A PostgreSQL data exception (class 22: a NUL character in text, a value out of range…) is
  // caused by what the client sent: a 400, not a 500.
  if (code?.length === 5 && code.startsWith('22') && typeof (error as { severity?: unknown }).severity === 'string') {
    return { status: 400, body: { error: 'bad_request', message: `a value in the request cannot be stored or compared: ${(error as Error).message}` } };
  }
  if (code && CONNECTION_ERRORS.has(code)) {
    return { status: 503, body: { error: 'unavailable', message: 'a dependency is unavailable; try again later' }, retryAfter: 2 };
  }
  const { name = '', message = '' } = (error ?? {}) as Partial<Error>;
  if (/Connection terminated|timeout exceeded when trying to connect|no answer within/.test(message)) {
    return { status: 503, body: { error: 'unavailable', message: 'a dependency is unavailable; try again later' }, retryAfter: 2 };
  }
  if (name.startsWith('KafkaJS')) {
    return { status: 503, body: { error: 'unavailable', message: 'Kafka is unavailable; try again later' }, retryAfter: 2 };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}
