/**
 * The trace context in Kafka headers: each produced message names its own PRODUCER span, each
 * consumed record its own CONSUMER span, in the trace it came with; a message's own tracestate
 * gives way to its span's, and every other header is kept.
 */
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConsumedRecord, OutgoingMessage } from '../src/records';
import { createTracing, type Tracing } from '../src/tracing';
import { traceConsume, traceProduce } from '../src/tracing-kafka';

const traceA = 'a1'.repeat(16);
const traceB = 'b2'.repeat(16);
const parent = (traceId: string, spanId: string, flags = '01') => `00-${traceId}-${spanId}-${flags}`;
const parts = (traceparent: string | undefined) => {
  const [, traceId, spanId, flags] = (traceparent ?? '').split('-');
  return { traceId, spanId, flags };
};

let tracing: Tracing | undefined;
const traced = () => {
  const exporter = new InMemorySpanExporter();
  tracing = createTracing({ service: 'unit', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_on' }, processors: [new SimpleSpanProcessor({ exporter })] });
  return { tracing, exporter };
};

afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

describe('traceProduce', () => {
  it("gives each message its parent's PRODUCER span, one span per parent, and keeps the other headers", () => {
    const { tracing, exporter } = traced();
    const messages: OutgoingMessage[] = [
      { key: 'k1', value: 'v1', headers: { 'content-type': 'x', traceparent: parent(traceA, '11'.repeat(8)), tracestate: 'old=1' } },
      { key: 'k2', value: 'v2', headers: { traceparent: parent(traceB, '22'.repeat(8)) } },
      { key: 'k3', value: 'v3', headers: { 'content-type': 'y', traceparent: parent(traceA, '11'.repeat(8)) } },
    ];
    const sent = traceProduce(tracing, 'events.processed', messages);
    sent.end();
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(2);
    for (const span of spans) expect(span.kind).toBe(SpanKind.PRODUCER);
    const spanOf = (traceId: string) => spans.find((span) => span.spanContext().traceId === traceId)!;
    expect(spanOf(traceA).parentSpanContext?.spanId).toBe('11'.repeat(8));
    expect(spanOf(traceA).attributes['messaging.batch.message_count']).toBe(2);
    const [first, second, third] = sent.messages;
    expect(parts(first!.headers!.traceparent as string)).toEqual({ traceId: traceA, spanId: spanOf(traceA).spanContext().spanId, flags: '01' });
    expect(parts(third!.headers!.traceparent as string)).toEqual(parts(first!.headers!.traceparent as string));
    expect(parts(second!.headers!.traceparent as string)).toEqual({ traceId: traceB, spanId: spanOf(traceB).spanContext().spanId, flags: '01' });
    expect(first!.headers).toEqual({ 'content-type': 'x', traceparent: first!.headers!.traceparent });
    expect(third!.headers!['content-type']).toBe('y');
    expect(sent.messages.map((m) => [m.key, m.value])).toEqual(messages.map((m) => [m.key, m.value]));
    // the caller's messages are left as they were
    expect(messages[0]!.headers!.traceparent).toBe(parent(traceA, '11'.repeat(8)));
  });
});

describe('traceConsume', () => {
  it('rewrites each record to its trace’s CONSUMER span, one span per trace in the batch', async () => {
    const { tracing, exporter } = traced();
    const record = (offset: number, headers: Record<string, string>) => ({ topic: 't', partition: 0, offset: String(offset), key: 'k', headers, timestamp: '1735689600000' }) as unknown as ConsumedRecord;
    const records = [
      record(0, { traceparent: parent(traceA, '11'.repeat(8)), tracestate: 'old=1', 'content-type': 'x' }),
      record(1, { traceparent: parent(traceB, '22'.repeat(8)) }),
      record(2, { traceparent: parent(traceA, '11'.repeat(8)), 'content-type': 'y' }),
    ];
    expect(await traceConsume(tracing, { topic: 't', partition: 0, group: 'g' }, records, async () => 'done')).toBe('done');
    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.kind)).toEqual([SpanKind.CONSUMER, SpanKind.CONSUMER]);
    const spanOf = (traceId: string) => spans.find((span) => span.spanContext().traceId === traceId)!;
    expect(spanOf(traceA).parentSpanContext?.spanId).toBe('11'.repeat(8));
    expect(parts(records[0]!.headers.traceparent)).toEqual({ traceId: traceA, spanId: spanOf(traceA).spanContext().spanId, flags: '01' });
    expect(records[2]!.headers.traceparent).toBe(records[0]!.headers.traceparent);
    expect(parts(records[1]!.headers.traceparent)).toEqual({ traceId: traceB, spanId: spanOf(traceB).spanContext().spanId, flags: '01' });
    // the trace's tracestate goes on with its span, to every record of the trace
    expect(records[0]!.headers).toEqual({ 'content-type': 'x', traceparent: records[0]!.headers.traceparent, tracestate: 'old=1' });
    expect(records[2]!.headers).toEqual({ 'content-type': 'y', traceparent: records[0]!.headers.traceparent, tracestate: 'old=1' });
    expect(records[1]!.headers.tracestate).toBeUndefined();
  });
});
