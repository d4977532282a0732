/**
 * Kafka produce and consume spans, and the W3C trace context in message headers.
 *
 * Produce: one PRODUCER span per parent among the messages of one `send`, ending when Kafka
 * acknowledged them; each message's `traceparent` is rewritten to that span. The parent is the
 * active span, or — for a message that carries a `traceparent` of another trace (an outbox row
 * relayed in the background, a consumed message passed on) — the context it carries.
 *
 * Consume: one CONSUMER span per distinct `traceparent` in a batch, child of the producer's
 * span, lasting as long as the handler works on the batch; each record's `traceparent` header is
 * rewritten to its consume span, so a handler that passes it on continues the trace. A batch of
 * one trace runs inside its span (PostgreSQL spans nest under it).
 */
import { ROOT_CONTEXT, SpanKind, context, trace, type Context, type Span } from '@opentelemetry/api';
import type { ConsumedRecord, OutgoingMessage } from './records';
import { endSpan, extractContext, injectContext, traceIdOf, withTracing, type Tracing } from './tracing';

export interface ProduceTracing {
  messages: OutgoingMessage[];
  end(error?: unknown): void;
}

const noTracing = (messages: OutgoingMessage[]): ProduceTracing => ({ messages, end: () => undefined });

export function traceProduce(
  tracing: Tracing | undefined,
  topic: string,
  messages: OutgoingMessage[],
  operation = 'publish',
): ProduceTracing {
  if (!tracing?.enabled) return noTracing(messages);
  const active = context.active();
  const activeSpan = trace.getSpan(active);
  const activeTrace = activeSpan?.spanContext().traceId;
  const groups = new Map<string, { parent: Context; indexes: number[] }>();
  // The messages of one send often carry the same few contexts: each is read once.
  const extracted = new Map<string, Context>();
  messages.forEach((message, index) => {
    const header = message.headers?.traceparent;
    const carried = header === undefined ? undefined : String(Array.isArray(header) ? header[0] : header);
    let parent: Context;
    if (activeSpan && (carried === undefined || traceIdOf(carried) === activeTrace)) parent = active;
    else if (carried !== undefined) {
      parent = extracted.get(carried) ?? extractContext({ traceparent: carried });
      extracted.set(carried, parent);
    } else parent = ROOT_CONTEXT;
    const key = trace.getSpanContext(parent)?.spanId ?? '';
    const group = groups.get(key) ?? { parent, indexes: [] };
    group.indexes.push(index);
    groups.set(key, group);
  });
  const spans: Span[] = [];
  const out = messages.slice();
  for (const { parent, indexes } of groups.values()) {
    const first = messages[indexes[0]!]!;
    const span = tracing.tracer.startSpan(
      `${operation} ${topic}`,
      {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'send',
          'messaging.operation.name': operation,
          'messaging.destination.name': topic,
          'messaging.batch.message_count': indexes.length,
          ...(indexes.length === 1 && typeof first.key === 'string' ? { 'messaging.kafka.message.key': first.key } : {}),
        },
      },
      parent,
    );
    spans.push(span);
    // One span's context, written once and given to each of its messages.
    const spanHeaders = injectContext(trace.setSpan(parent, span), {});
    for (const index of indexes) {
      const message = messages[index]!;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) if (name !== 'tracestate') headers[name] = String(Array.isArray(value) ? value[0] : value);
      out[index] = { ...message, headers: Object.assign(headers, spanHeaders) };
    }
  }
  return {
    messages: out,
    end: (error?: unknown) => {
      for (const span of spans) endSpan(span, error);
    },
  };
}

export interface ConsumeMeta {
  topic: string;
  partition: number;
  group: string;
}

export async function traceConsume<T>(
  tracing: Tracing | undefined,
  meta: ConsumeMeta,
  records: ConsumedRecord[],
  work: () => Promise<T>,
): Promise<T> {
  if (!tracing?.enabled || records.length === 0) return work();
  const groups = new Map<string, ConsumedRecord[]>();
  for (const record of records) {
    const key = record.headers.traceparent ?? '';
    const list = groups.get(key);
    if (list) list.push(record);
    else groups.set(key, [record]);
  }
  const spans: Array<{ span: Span; ctx: Context }> = [];
  for (const [traceparent, list] of groups) {
    const parent = traceparent ? extractContext(list[0]!.headers) : ROOT_CONTEXT;
    const produced = Math.min(...list.map((record) => Number(record.timestamp)).filter(Number.isFinite));
    const span = tracing.tracer.startSpan(
      `process ${meta.topic}`,
      {
        kind: SpanKind.CONSUMER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.operation.type': 'process',
          'messaging.destination.name': meta.topic,
          'messaging.destination.partition.id': String(meta.partition),
          'messaging.consumer.group.name': meta.group,
          'messaging.batch.message_count': list.length,
          'messaging.kafka.offset': Number(list[0]!.offset),
          ...(Number.isFinite(produced) ? { 'messaging.kafka.message.timestamp': produced } : {}),
        },
      },
      parent,
    );
    const ctx = withTracing(trace.setSpan(parent, span), tracing);
    const injected = injectContext(ctx, {});
    for (const record of list) {
      const headers: Record<string, string> = { ...record.headers };
      delete headers.tracestate;
      record.headers = Object.assign(headers, injected);
    }
    spans.push({ span, ctx });
  }
  // One trace: the handler's work nests under its span. Several: under none of them.
  const workContext = spans.length === 1 ? spans[0]!.ctx : withTracing(ROOT_CONTEXT, tracing);
  try {
    const result = await context.with(workContext, work);
    for (const { span } of spans) span.end();
    return result;
  } catch (error) {
    for (const { span } of spans) endSpan(span, error);
    throw error;
  }
}
