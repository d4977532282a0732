/**
 * The pieces of tracing without Kafka: OTLP/JSON parsing, the bounded span store, trace
 * summaries and filters, the waterfall, the receiver fed by the real OTLP exporter of the kit,
 * the kit's HTTP server spans, log ids, and OTEL_SDK_DISABLED.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { activeTraceIds, createServer, createTracing, describeQuery, HealthReporter, CircuitRegistry, ServiceMetrics, operationPath, createLogger } from '@msctl/kit';
import { spansFromOtlp, idToHex, type StoredSpan } from '../../src/traces/otlp';
import { startTraceReceiver } from '../../src/traces/receiver';
import { SpanWriter, findTrace, groupTraces, listSegments, listTraces, readSpans } from '../../src/traces/store';
import { renderWaterfall, waterfallRows } from '../../src/traces/waterfall';
import { makeChalk } from '../../src/ui/colors';
import { parseDuration } from '../../src/core/duration';
import { sleep } from '../../src/core/sleep';

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(join(tmpdir(), 'msctl-traces-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const T = 'aa'.repeat(16);
const span = (over: Partial<StoredSpan>): StoredSpan => ({
  traceId: T,
  spanId: '01'.repeat(8),
  name: 'op',
  kind: 'internal',
  service: 'svc',
  start: 1_000,
  end: 1_010,
  status: 'unset',
  attributes: {},
  ...over,
});

describe('OTLP/JSON', () => {
  it('reads hex and base64 ids, string and {low,high} times, kinds, status, exceptions and links', () => {
    const b64Trace = Buffer.from('ab'.repeat(16), 'hex').toString('base64');
    const spans = spansFromOtlp({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'users' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: T,
                  spanId: '11'.repeat(8),
                  parentSpanId: '22'.repeat(8),
                  name: 'POST /users',
                  kind: 2,
                  startTimeUnixNano: '1700000000000123456',
                  endTimeUnixNano: '1700000000010123456',
                  attributes: [
                    { key: 'http.response.status_code', value: { intValue: '500' } },
                    { key: 'ok', value: { boolValue: true } },
                  ],
                  status: { code: 2, message: 'answered 500' },
                  events: [{ name: 'exception', attributes: [{ key: 'exception.message', value: { stringValue: 'boom' } }] }],
                  links: [{ traceId: T, spanId: '33'.repeat(8) }],
                },
                {
                  traceId: b64Trace,
                  spanId: Buffer.from('44'.repeat(8), 'hex').toString('base64'),
                  name: 'publish',
                  kind: 'SPAN_KIND_PRODUCER',
                  startTimeUnixNano: { low: 0, high: 1 },
                  endTimeUnixNano: { low: 1_000_000, high: 1 },
                },
                { traceId: 'nonsense', spanId: 'x', name: 'dropped' },
              ],
            },
          ],
        },
      ],
    });
    expect(spans).toHaveLength(2);
    expect(spans[0]).toEqual({
      traceId: T,
      spanId: '11'.repeat(8),
      parentSpanId: '22'.repeat(8),
      name: 'POST /users',
      kind: 'server',
      service: 'users',
      start: 1700000000000.123,
      end: 1700000000010.123,
      status: 'error',
      statusMessage: 'answered 500',
      attributes: { 'http.response.status_code': 500, ok: true },
      links: [{ traceId: T, spanId: '33'.repeat(8) }],
      exceptions: ['boom'],
    });
    expect(spans[1]).toMatchObject({ traceId: 'ab'.repeat(16), spanId: '44'.repeat(8), kind: 'producer', end: spans[1]!.start + 1 });
    expect(idToHex('zz', 8)).toBeUndefined();
  });
});

describe('the span store', () => {
  it('rolls segments and keeps the whole store under its cap, oldest out first', async () => {
    const dir = await tempDir();
    let now = 1;
    const writer = new SpanWriter({ dir, segmentBytes: 4_000, maxBytes: 12_000, now: () => now++ });
    for (let i = 0; i < 200; i++) await writer.write([span({ spanId: i.toString(16).padStart(16, '0'), traceId: i.toString(16).padStart(32, '0') })]);
    const segments = await listSegments(dir);
    expect(segments.length).toBeGreaterThan(1);
    expect(segments.reduce((sum, s) => sum + s.bytes, 0)).toBeLessThanOrEqual(12_000);
    const spans = await readSpans(dir);
    expect(spans.at(-1)!.traceId).toBe((199).toString(16).padStart(32, '0'));
    expect(spans.some((s) => s.traceId === '0'.repeat(32))).toBe(false);
  });

  it('keeps writing to the segment it holds open, and after close() to the same one again', async () => {
    const dir = await tempDir();
    const writer = new SpanWriter({ dir, now: () => 7 });
    const ids = Array.from({ length: 30 }, (_, i) => (i + 1).toString(16).padStart(16, '0'));
    // Not awaited one by one: writes queued behind each other land in order, all before close() resolves.
    void Promise.all(ids.slice(0, 20).map((spanId) => writer.write([span({ spanId })])));
    await writer.close();
    expect((await readSpans(dir)).map((s) => s.spanId)).toEqual(ids.slice(0, 20));
    for (const spanId of ids.slice(20)) await writer.write([span({ spanId })]);
    await writer.close();
    expect((await listSegments(dir)).map((s) => s.file.split('/').at(-1))).toEqual(['spans-7.ndjson']);
    expect((await readSpans(dir)).map((s) => s.spanId)).toEqual(ids);
  });

  it('skips a torn last line', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'spans-1.ndjson'), `${JSON.stringify(span({}))}\n{"traceId":"ab`);
    expect(await readSpans(dir)).toHaveLength(1);
  });

  it('summarizes, filters and finds traces by prefix', () => {
    const other = 'bb'.repeat(16);
    const spans = [
      span({ spanId: 'a1'.repeat(8), service: 'gateway', name: 'POST /api/users', kind: 'server', start: 1_000, end: 1_050 }),
      span({ spanId: 'a2'.repeat(8), parentSpanId: 'a1'.repeat(8), service: 'users', kind: 'producer', start: 1_010, end: 1_020 }),
      span({ spanId: 'a3'.repeat(8), parentSpanId: 'a2'.repeat(8), service: 'analytics', kind: 'consumer', start: 1_030, end: 1_200, status: 'error' }),
      span({ traceId: other, spanId: 'b1'.repeat(8), service: 'gateway', start: 5_000, end: 5_004 }),
    ];
    const all = listTraces(spans);
    expect(all.map((t) => t.traceId)).toEqual([other, T]);
    expect(all[1]).toMatchObject({ root: 'gateway: POST /api/users', durationMs: 200, spanCount: 3, services: ['gateway', 'users', 'analytics'], errors: 1 });
    expect(listTraces(spans, { service: 'analytics' }).map((t) => t.traceId)).toEqual([T]);
    expect(listTraces(spans, { minDurationMs: 50 }).map((t) => t.traceId)).toEqual([T]);
    expect(listTraces(spans, { since: 4_000 }).map((t) => t.traceId)).toEqual([other]);
    expect(findTrace(spans, 'aaaa').trace?.traceId).toBe(T);
    expect(findTrace(spans, 'cc').trace).toBeUndefined();

    const [trace] = groupTraces(spans);
    const rows = waterfallRows(trace!);
    expect(rows.map((r) => [r.span.service, r.depth])).toEqual([['gateway', 0], ['users', 1], ['analytics', 2]]);
    expect(rows[2]).toMatchObject({ queueMs: 10, offsetMs: 30, durationMs: 170 });
    const text = renderWaterfall(trace!, { c: makeChalk(false), width: 120 });
    expect(text).toMatch(/^analytics .*✗ op .*queued 10\.0ms$/m);
    expect(text).toContain('Kafka hops');
    expect(parseDuration('1.5s', '--min-duration')).toBe(1_500);
    expect(() => parseDuration('soon', '--min-duration')).toThrow(/not a duration/);
  });
});

describe('the receiver, fed by the kit’s own OTLP exporter', () => {
  it('stores what a service exports over OTLP/HTTP JSON; refuses a body in neither JSON nor protobuf; takes gzip', async () => {
    const dir = await tempDir();
    const token = 'unit-test-token-'.repeat(3);
    const receiver = await startTraceReceiver({ dir, token });
    try {
      const tracing = createTracing({ service: 'unit', env: { OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${token}` } });
      expect(tracing.endpoint).toBe(`${receiver.url}/v1/traces`);
      const parent = tracing.tracer.startSpan('parent');
      const child = tracing.tracer.startSpan('child', {}, trace.setSpan(context.active(), parent));
      child.end();
      parent.end();
      await tracing.shutdown();
      const stored = await readSpans(dir);
      expect(stored.map((s) => [s.name, s.service])).toEqual([['child', 'unit'], ['parent', 'unit']]);
      expect(stored[0]!.parentSpanId).toBe(parent.spanContext().spanId);

      const text = await fetch(`${receiver.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body: 'spans' });
      expect(text.status).toBe(415);
      const body = { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'cd'.repeat(16), spanId: 'ef'.repeat(8), name: 'zipped', kind: 1 }] }] }] };
      const zipped = await fetch(`${receiver.url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${token}` },
        body: gzipSync(JSON.stringify(body)),
      });
      expect(zipped.status).toBe(200);
      expect((await readSpans(dir)).map((s) => s.name)).toContain('zipped');
      expect(receiver.received).toBe(3);
      expect((await readdir(dir)).every((name) => /^spans-\d+\.ndjson$/.test(name))).toBe(true);
    } finally {
      await receiver.close();
    }
  });
});

describe('kit tracing', () => {
  const server = (env: Record<string, string>) => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ service: 'unit', env, processors: [new SimpleSpanProcessor({ exporter })] });
    const metrics = new ServiceMetrics('unit');
    const app = createServer({
      logger: createLogger('unit', 'silent'),
      metrics,
      health: new HealthReporter('unit', '1', new CircuitRegistry({ timeoutMs: 1000, resetMs: 1000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics)),
      bodyLimitBytes: 1024,
      tracing,
    });
    let ids: ReturnType<typeof activeTraceIds> = {};
    app.post('/things/:id', async () => {
      await sleep(1);
      ids = activeTraceIds();
      return { ok: true };
    });
    return { app, exporter, ids: () => ids };
  };

  it('opens a server span per request, child of the caller’s traceparent, active in the handler (log ids)', async () => {
    const { app, exporter, ids } = server({});
    const parent = `00-${'12'.repeat(16)}-${'34'.repeat(8)}-01`;
    const answer = await app.inject({ method: 'POST', url: '/things/42', headers: { traceparent: parent }, payload: { a: 1 } });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-trace-id']).toBe('12'.repeat(16));
    const [finished] = exporter.getFinishedSpans();
    expect(finished).toMatchObject({ name: 'POST /things/:id', parentSpanContext: { spanId: '34'.repeat(8) } });
    expect(finished!.attributes['http.response.status_code']).toBe(200);
    expect(ids()).toEqual({ trace_id: '12'.repeat(16), span_id: finished!.spanContext().spanId });
    expect((await app.inject({ method: 'GET', url: '/health' })).headers['x-trace-id']).toBeUndefined();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    await app.close();
  });

  it('does nothing with OTEL_SDK_DISABLED=true', async () => {
    const { app, exporter, ids } = server({ OTEL_SDK_DISABLED: 'true' });
    const answer = await app.inject({ method: 'POST', url: '/things/1', payload: {} });
    expect(answer.statusCode).toBe(200);
    expect(answer.headers['x-trace-id']).toBeUndefined();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    expect(ids()).toEqual({});
    await app.close();
  });

  it('names statements and catch-all routes', () => {
    expect(describeQuery('s', 'INSERT INTO outbox (topic) VALUES ($1)').name).toBe('INSERT outbox');
    expect(describeQuery('s', 'SELECT pg_notify($1, $2)').name).toBe('SELECT');
    expect(operationPath('/api/*', '/api/users/8f14e45f-ceea-467f-a0e6-1c2b3d4e5f60/x?y=1')).toBe('/api/users/:id/x');
    expect(operationPath('/users/:id', '/users/3')).toBe('/users/:id');
  });
});
