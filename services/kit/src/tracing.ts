/**
 * OpenTelemetry tracing for a service, instrumented explicitly (auto-instrumentation's require
 * hooks do not reach into the esbuild ESM bundles): HTTP server spans (tracing-http.ts),
 * PostgreSQL spans (postgres.ts), Kafka produce and consume spans (kafka.ts), the outbox's
 * stored trace context (outbox.ts). W3C trace context travels in HTTP headers and in Kafka
 * message headers, so one request is one trace across every hop.
 *
 * Each service instance has its own TracerProvider (its own `service.name`), so that several
 * services in one process (the in-process test stack) still export as themselves. The active
 * context carries the tracing of the service whose work it is (see `currentTracing`), which
 * lets code without a reference to the service (the gateway's proxy) open child spans.
 *
 * Export: OTLP/HTTP (JSON) to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or to
 * OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, with the headers OTEL_EXPORTER_OTLP_HEADERS names
 * (msctl's receiver wants the stack's token there). Without either, spans are still created (trace ids in
 * logs and headers) but not exported. OTEL_SDK_DISABLED=true switches tracing off entirely;
 * OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG sample (default: every trace a client asks
 * for with a sampled `traceparent`, and up to 10 new traces a second; see samplerFromEnv).
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  createContextKey,
  isSpanContextValid,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SamplingResult,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';

export { SpanKind, SpanStatusCode, type Context, type Span };

export interface Tracing {
  /** False with OTEL_SDK_DISABLED=true: no span is created, nothing is propagated or exported. */
  readonly enabled: boolean;
  readonly service: string;
  readonly tracer: Tracer;
  /** Where spans are exported (undefined: nowhere). */
  readonly endpoint: string | undefined;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  service: string;
  version?: string;
  env: Record<string, string | undefined>;
  /** Extra processors (tests). */
  processors?: SpanProcessor[];
}

const TRACING_KEY = createContextKey('msctl.tracing');
const propagator = new W3CTraceContextPropagator();

let contextManagerInstalled = false;
/** One AsyncLocalStorage context manager per process, shared by every service in it. */
function ensureContextManager(): void {
  if (contextManagerInstalled) return;
  contextManagerInstalled = true;
  // false when another one is registered already (then that one carries the context).
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}

const truthy = (value: string | undefined) => value !== undefined && /^(1|true|yes|on)$/i.test(value.trim());

/** The OTLP/HTTP traces URL the environment names, if any. */
export function otlpTracesUrl(env: Record<string, string | undefined>): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}

/** A malformed escape is kept as written rather than failing the service's start. */
function urlDecoded(text: string): string {
  try {
    return decodeURIComponent(text.trim());
  } catch {
    return text.trim();
  }
}

/**
 * The headers OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS name (the latter
 * wins per key), parsed as the OTel spec says: comma-separated key=value pairs, URL-decoded,
 * surrounding spaces trimmed. Read from the service's own env: the exporter would otherwise read
 * process.env, which is not this service's environment when several share a process.
 */
export function otlpHeaders(env: Record<string, string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const raw of [env.OTEL_EXPORTER_OTLP_HEADERS, env.OTEL_EXPORTER_OTLP_TRACES_HEADERS]) {
    for (const pair of (raw ?? '').split(',')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const key = urlDecoded(pair.slice(0, equals));
      const value = urlDecoded(pair.slice(equals + 1));
      if (key && value) headers[key.toLowerCase()] = value;
    }
  }
  return headers;
}

/** New traces per second per service when nothing says otherwise (OTEL_TRACES_SAMPLER_ARG changes it). */
export const DEFAULT_TRACES_PER_SECOND = 10;

/**
 * At most `perSecond` new traces a second (a token bucket holding one second's worth), as
 * Jaeger's rate-limiting sampler does: a developer's requests are all traced, while a load test's
 * thousands a second are not paid for in spans, exports and a receiver parsing them.
 */
export class RateLimitingSampler implements Sampler {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = Math.max(1, perSecond);
    this.last = this.now();
  }

  shouldSample(): SamplingResult {
    const now = this.now();
    const capacity = Math.max(1, this.perSecond);
    this.tokens = Math.min(capacity, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return { decision: SamplingDecision.NOT_RECORD };
    this.tokens -= 1;
    return { decision: SamplingDecision.RECORD_AND_SAMPLED };
  }

  toString(): string {
    return `RateLimitingSampler{${this.perSecond}/s}`;
  }
}

/**
 * The standard OTEL_TRACES_SAMPLER values, plus `parentbased_rate_limited` (the default): a
 * trace follows its parent's decision (a client's `traceparent` with the sampled flag is always
 * traced), and new traces start at most OTEL_TRACES_SAMPLER_ARG times a second (default 10).
 */
export function samplerFromEnv(env: Record<string, string | undefined>): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase() || 'parentbased_rate_limited';
  const rawArg = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  const arg = rawArg ? Number(rawArg) : Number.NaN;
  const ratio = Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    default:
      return new ParentBasedSampler({ root: new RateLimitingSampler(Number.isFinite(arg) && arg >= 0 ? arg : DEFAULT_TRACES_PER_SECOND) });
  }
}

export function createTracing(options: TracingOptions): Tracing {
  const disabled = truthy(options.env.OTEL_SDK_DISABLED) || options.env.OTEL_TRACES_EXPORTER?.trim() === 'none';
  if (disabled) {
    return {
      enabled: false,
      service: options.service,
      tracer: trace.getTracer('@msctl/kit'),
      endpoint: undefined,
      flush: async () => undefined,
      shutdown: async () => undefined,
    };
  }
  ensureContextManager();
  const endpoint = otlpTracesUrl(options.env);
  const processors: SpanProcessor[] = [...(options.processors ?? [])];
  if (endpoint) {
    processors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: endpoint, headers: otlpHeaders(options.env), timeoutMillis: 5_000 }),
        // Short enough that `msctl traces` shows a request a moment after it was answered.
        scheduledDelayMillis: Number(options.env.OTEL_BSP_SCHEDULE_DELAY ?? 500),
        maxQueueSize: 8_192,
        maxExportBatchSize: 1_024,
      }),
    );
  }
  const provider = new TracerProvider({
    sampler: samplerFromEnv(options.env),
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: options.service,
      [ATTR_SERVICE_VERSION]: options.version ?? '0.1.0',
      'service.instance.id': `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    }),
    spanProcessors: processors,
  });
  const tracer = provider.getTracer('@msctl/kit', options.version);
  let stopped = false;
  return {
    enabled: true,
    service: options.service,
    tracer,
    endpoint,
    flush: () => provider.forceFlush().catch(() => undefined),
    shutdown: async () => {
      if (stopped) return;
      stopped = true;
      await provider.shutdown().catch(() => undefined);
    },
  };
}

// ---- context: which service's tracing, which span ----

/** `ctx` marked as the work of `tracing`'s service. */
export function withTracing(ctx: Context, tracing: Tracing): Context {
  return ctx.setValue(TRACING_KEY, tracing);
}

/** The tracing of the service whose request or message is being handled, if any. */
export function currentTracing(ctx: Context = context.active()): Tracing | undefined {
  const value = ctx.getValue(TRACING_KEY) as Tracing | undefined;
  return value?.enabled ? value : undefined;
}

/** The ids of the active span, for log lines: `{ trace_id, span_id }`, or nothing. */
export function activeTraceIds(): { trace_id: string; span_id: string } | Record<string, never> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** The active span of a request or message being handled (sampled or not: its context propagates either way). */
export function activeSpan(ctx: Context = context.active()): Span | undefined {
  const span = trace.getSpan(ctx);
  return span && isSpanContextValid(span.spanContext()) ? span : undefined;
}

// ---- W3C trace context in headers ----

type Carrier = Record<string, string | string[] | undefined>;
const getter: TextMapGetter<Carrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key] ?? carrier[key.toLowerCase()],
};
const setter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/** The context a `traceparent` (and `tracestate`) header names, on top of `base`. */
export function extractContext(headers: Carrier, base: Context = ROOT_CONTEXT): Context {
  if (headers.traceparent === undefined) return base;
  return propagator.extract(base, headers, getter);
}

/** Writes `traceparent` (and `tracestate`) for the span of `ctx` into `headers`. */
export function injectContext(ctx: Context, headers: Record<string, string>): Record<string, string> {
  propagator.inject(ctx, headers, setter);
  return headers;
}

/** The trace id a `traceparent` header names. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  const match = traceparent ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(traceparent.trim()) : null;
  return match?.[1];
}

// ---- spans ----

export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) failSpan(span, error);
  span.end();
}

export function failSpan(span: Span, error: unknown, message?: string): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? (error instanceof Error ? error.message : String(error)) });
}

/**
 * Runs `work` inside a new span, child of the active one, of the service whose work is active;
 * without an active traced context it just runs `work`.
 */
export async function inSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; requireParent?: boolean },
  work: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  const active = context.active();
  const tracing = currentTracing(active);
  const parent = trace.getSpan(active);
  // Inside a trace that is not sampled, a child would not be recorded either: the parent's
  // context still propagates as it is.
  if (!tracing || (options.requireParent !== false && !parent) || (parent && !parent.isRecording())) return work(undefined);
  const span = tracing.tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, active);
  try {
    const result = await context.with(trace.setSpan(active, span), () => work(span));
    span.end();
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}

/**
 * An outgoing HTTP call as a client span: `headers` gets the span's `traceparent`, so the
 * server's span is its child. `work` returns the status code it got (a 5xx marks the span failed).
 */
export async function traceHttpClient<T extends { statusCode: number }>(
  request: { method: string; url: string; path: string; peer?: string },
  headers: Record<string, string>,
  work: (headers: Record<string, string>) => Promise<T>,
): Promise<T> {
  const active = context.active();
  const tracing = currentTracing(active);
  if (!tracing) return work(headers);
  // Not sampled: no client span, but the callee still learns that the trace is not sampled.
  if (trace.getSpan(active)?.isRecording() === false) return work(injectContext(active, { ...headers }));
  const target = new URL(request.url);
  const span = tracing.tracer.startSpan(
    `${request.method} ${request.peer ?? target.host}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'http.request.method': request.method,
        'url.full': `${request.url.replace(/\/+$/, '')}${request.path}`,
        'server.address': target.hostname,
        'server.port': Number(target.port || 80),
        ...(request.peer ? { 'peer.service': request.peer } : {}),
      },
    },
    active,
  );
  const outgoing = injectContext(trace.setSpan(active, span), { ...headers });
  try {
    const result = await context.with(trace.setSpan(active, span), () => work(outgoing));
    span.setAttribute('http.response.status_code', result.statusCode);
    if (result.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR, message: `upstream answered ${result.statusCode}` });
    span.end();
    return result;
  } catch (error) {
    const status = (error as { response?: { statusCode?: number } }).response?.statusCode;
    if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
    endSpan(span, error);
    throw error;
  }
}

// ---- PostgreSQL ----

const SQL_SHAPE = /^\s*(?:WITH\b[\s\S]*?\)\s*)?(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|LISTEN|NOTIFY|BEGIN|COMMIT|ROLLBACK)\b/i;
const SQL_TABLE = /\b(?:FROM|INTO|UPDATE|TABLE)\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?("?[\w.]+"?)/i;

/** Span name and attributes of one statement: `INSERT outbox`, db.query.text (shortened). */
export function describeQuery(schema: string, text: string): { name: string; attributes: Attributes } {
  const operation = SQL_SHAPE.exec(text)?.[1]?.toUpperCase() ?? 'QUERY';
  const table = SQL_TABLE.exec(text)?.[1]?.replaceAll('"', '');
  const query = text.replace(/\s+/g, ' ').trim();
  return {
    name: table ? `${operation} ${table}` : operation,
    attributes: {
      'db.system.name': 'postgresql',
      'db.namespace': schema,
      'db.operation.name': operation,
      ...(table ? { 'db.collection.name': table } : {}),
      'db.query.text': query.length > 300 ? `${query.slice(0, 299)}…` : query,
    },
  };
}

/** A span per statement, when a traced request or message is active. */
export function traceQuery<T>(schema: string, text: string, run: () => Promise<T>): Promise<T> {
  const active = context.active();
  if (!currentTracing(active) || !trace.getSpan(active)?.isRecording()) return run();
  const { name, attributes } = describeQuery(schema, text);
  return inSpan(name, { kind: SpanKind.CLIENT, attributes }, run);
}

/** `client` whose `query(text, values)` calls are traced (callback and config-object forms pass through). */
export function tracedClient<C extends { query: (...args: never[]) => unknown }>(client: C, schema: string): C {
  const active = context.active();
  if (!currentTracing(active) || !trace.getSpan(active)?.isRecording()) return client;
  const query = (...args: unknown[]) => {
    const [text] = args;
    const original = () => (client.query as (...a: unknown[]) => unknown).apply(client, args);
    if (typeof text !== 'string' || args.some((arg) => typeof arg === 'function')) return original();
    return traceQuery(schema, text, original as () => Promise<unknown>);
  };
  return new Proxy(client, {
    get(target, property) {
      if (property === 'query') return query;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
