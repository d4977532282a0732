/**
 * An HTTP server span per request, from fastify hooks: the span starts at onRequest (child of
 * the `traceparent` the caller sent), is the active context for every later hook and the
 * handler, and ends at onResponse with the status code (5xx: failed). /health and /metrics are
 * not traced (the supervisor polls them). Every answer carries `x-trace-id`.
 */
import { SpanKind, SpanStatusCode, context, trace, type Context, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { extractContext, withTracing, type Tracing } from './tracing';

const UNTRACED_ROUTES = new Set(['/health', '/metrics']);

export const TRACE_ID_HEADER = 'x-trace-id';

/**
 * The span's path: the route template; for a catch-all route (the gateway's `/api/*`) the
 * request's path with id-like segments (numbers, UUIDs, long hex) replaced by `:id`, so that the
 * name says what was called and stays low in cardinality.
 */
export function operationPath(route: string | undefined, url: string): string {
  if (route !== undefined && !route.includes('*')) return route;
  const path = url.split('?')[0] ?? url;
  return path
    .split('/')
    .map((segment) => (/^(\d+|[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}|[\da-f]{16,}|[\w-]{24,})$/i.test(segment) ? ':id' : segment))
    .join('/');
}

export function traceHttpServer(app: FastifyInstance, tracing: Tracing): void {
  if (!tracing.enabled) return;
  const active = new WeakMap<FastifyRequest, { span: Span; ctx: Context }>();

  app.addHook('onRequest', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED_ROUTES.has(route)) return done();
    const parent = extractContext(request.headers);
    // Named and described only once sampled: most requests are not (the sampler looks at the
    // parent alone), and their span records nothing.
    const span = tracing.tracer.startSpan(request.method, { kind: SpanKind.SERVER }, parent);
    if (span.isRecording()) {
      span.updateName(`${request.method} ${operationPath(route, request.url)}`);
      span.setAttributes({
        'http.request.method': request.method,
        'url.path': request.url.split('?')[0] ?? request.url,
        ...(route ? { 'http.route': route } : {}),
        'http.request.id': String(request.id),
      });
    }
    const ctx = withTracing(trace.setSpan(parent, span), tracing);
    active.set(request, { span, ctx });
    void reply.header(TRACE_ID_HEADER, span.spanContext().traceId);
    // The rest of the lifecycle (up to the body parser) runs in the span's context.
    context.with(ctx, done);
  });

  // The body parser resumes from the socket's context: enter the span's again for the handler.
  app.addHook('preHandler', (request, _reply, done) => {
    const entry = active.get(request);
    if (!entry) return done();
    context.with(entry.ctx, done);
  });

  app.addHook('onError', (request, _reply, error, done) => {
    active.get(request)?.span.recordException(error);
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const entry = active.get(request);
    if (entry) {
      active.delete(request);
      entry.span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) entry.span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${reply.statusCode}` });
      entry.span.end();
    }
    done();
  });

  app.addHook('onRequestAbort', (request, done) => {
    const entry = active.get(request);
    if (entry) {
      active.delete(request);
      entry.span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client aborted the request' });
      entry.span.end();
    }
    done();
  });
}
