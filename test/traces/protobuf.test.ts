/**
 * OTLP/HTTP protobuf, as the Go, Java and Python exporters send it by default: bodies encoded by
 * OpenTelemetry's own serializer (not by msctl) decode to the same spans as the same export in
 * JSON, and the receiver takes them (plain or gzip), answers in protobuf, and keeps its token and
 * its 400 for a body that is not what it says. No Kafka or PostgreSQL: runs with
 * vitest.unit.config.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracing } from '@msctl/kit';
import { spansFromOtlp, type OtlpTraceRequest } from '../../src/traces/otlp';
import { decodeStatus, decodeTraceRequest } from '../../src/traces/otlp-proto';
import { startTraceReceiver, type TraceReceiver } from '../../src/traces/receiver';
import { readSpans } from '../../src/traces/store';

const TOKEN = 'protobuf-test-token-'.repeat(3);
let dir: string;
let receiver: TraceReceiver;
let exported: ReadableSpan[];
let zipped: ReadableSpan[];

/** Real SDK spans of every shape the converter reads: kinds, attributes of each type, an exception, an error status, a link, a parent. */
async function sdkSpans(): Promise<{ exported: ReadableSpan[]; zipped: ReadableSpan[] }> {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ service: 'proto-svc', env: {}, processors: [new SimpleSpanProcessor({ exporter })] });
  const parent = tracing.tracer.startSpan('GET /orders', { kind: SpanKind.SERVER, attributes: { 'http.status_code': 500, ratio: 0.25, cached: false, tags: ['a', 'b'], big: 2 ** 40 } });
  const child = tracing.tracer.startSpan('publish orders', { kind: SpanKind.PRODUCER, links: [{ context: parent.spanContext() }] }, trace.setSpan(context.active(), parent));
  child.recordException(new Error('broker gone'));
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'broker gone' });
  child.end();
  parent.setStatus({ code: SpanStatusCode.OK });
  parent.end();
  const spans = exporter.getFinishedSpans();
  exporter.reset();
  tracing.tracer.startSpan('zipped-proto').end();
  const more = exporter.getFinishedSpans();
  await tracing.shutdown();
  return { exported: spans, zipped: more };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-otlp-protobuf-'));
  receiver = await startTraceReceiver({ dir, token: TOKEN });
  ({ exported, zipped } = await sdkSpans());
});
afterAll(async () => {
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const post = (body: Uint8Array, headers: Record<string, string>) =>
  fetch(`${receiver.url}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', ...headers }, body });
const authorized = { authorization: `Bearer ${TOKEN}` };

describe('OTLP protobuf decoding', () => {
  it('gives the same spans as the same export in JSON', () => {
    expect(exported).toHaveLength(2);
    const fromProtobuf = spansFromOtlp(decodeTraceRequest(ProtobufTraceSerializer.serializeRequest(exported)!));
    const fromJson = spansFromOtlp(JSON.parse(new TextDecoder().decode(JsonTraceSerializer.serializeRequest(exported))) as OtlpTraceRequest);
    expect(fromProtobuf).toEqual(fromJson);
    const [child, parent] = fromProtobuf;
    expect(parent).toMatchObject({ name: 'GET /orders', kind: 'server', service: 'proto-svc', status: 'ok', attributes: { 'http.status_code': 500, ratio: 0.25, cached: false, tags: ['a', 'b'], big: 2 ** 40 } });
    expect(child).toMatchObject({ name: 'publish orders', kind: 'producer', parentSpanId: parent!.spanId, status: 'error', statusMessage: 'broker gone', exceptions: ['broker gone'] });
    expect(child!.links).toEqual([{ traceId: parent!.traceId, spanId: parent!.spanId }]);
    expect(child!.traceId).toMatch(/^[\da-f]{32}$/);
    expect(parent!.end).toBeGreaterThanOrEqual(parent!.start);
    expect(parent!.start).toBeGreaterThan(Date.UTC(2020, 0, 1));
  });

  it('refuses bytes that are not an ExportTraceServiceRequest', () => {
    expect(() => decodeTraceRequest(new Uint8Array([0x0a, 0xff, 0xff, 0xff]))).toThrow(/not an OTLP ExportTraceServiceRequest/);
  });
});

describe('the receiver, fed protobuf', () => {
  it('stores the spans and answers with an ExportTraceServiceResponse in protobuf', async () => {
    const answer = await post(ProtobufTraceSerializer.serializeRequest(exported)!, authorized);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/x-protobuf');
    // An empty ExportTraceServiceResponse: no partial_success, every span was taken.
    expect(new Uint8Array(await answer.arrayBuffer())).toEqual(new Uint8Array());
    expect((await readSpans(dir)).map((span) => span.name).sort()).toEqual(['GET /orders', 'publish orders']);
  });

  it('takes a gzip body (the Python exporter with compression on)', async () => {
    const answer = await post(gzipSync(ProtobufTraceSerializer.serializeRequest(zipped)!), { ...authorized, 'content-encoding': 'gzip' });
    expect(answer.status).toBe(200);
    expect((await readSpans(dir)).map((span) => span.name)).toContain('zipped-proto');
  });

  it('answers 401 without the token, as a google.rpc.Status in protobuf', async () => {
    const answer = await post(ProtobufTraceSerializer.serializeRequest(exported)!, { authorization: 'Bearer wrong' });
    expect(answer.status).toBe(401);
    expect(answer.headers.get('content-type')).toBe('application/x-protobuf');
    const status = decodeStatus(new Uint8Array(await answer.arrayBuffer()));
    expect(status.code).toBe(16); // UNAUTHENTICATED
    expect(status.message).toMatch(/Bearer/);
  });

  it('answers 400, not 500, to bytes that are not protobuf', async () => {
    const answer = await post(new Uint8Array([0x0a, 0xff, 0xff, 0xff]), authorized);
    expect(answer.status).toBe(400);
    expect(decodeStatus(new Uint8Array(await answer.arrayBuffer())).message).toMatch(/ExportTraceServiceRequest/);
  });
});
