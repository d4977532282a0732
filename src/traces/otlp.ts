/**
 * OTLP/JSON (ExportTraceServiceRequest, as the OpenTelemetry exporters send it over HTTP) to
 * msctl's flat span records. Ids may come as hex (the OTLP/JSON spec) or base64 (protobuf's
 * JSON mapping); times as strings, numbers or {low, high}.
 */

export type SpanKindName = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type AttributeValue = string | number | boolean | Array<string | number | boolean>;

export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: SpanKindName;
  service: string;
  /** Unix time in milliseconds (microsecond precision). */
  start: number;
  end: number;
  status: 'unset' | 'ok' | 'error';
  statusMessage?: string;
  attributes: Record<string, AttributeValue>;
  links?: Array<{ traceId: string; spanId: string }>;
  /** Exceptions recorded on the span. */
  exceptions?: string[];
}

const KINDS: Record<number, SpanKindName> = { 1: 'internal', 2: 'server', 3: 'client', 4: 'producer', 5: 'consumer' };
const KIND_NAMES: Record<string, SpanKindName> = {
  SPAN_KIND_INTERNAL: 'internal',
  SPAN_KIND_SERVER: 'server',
  SPAN_KIND_CLIENT: 'client',
  SPAN_KIND_PRODUCER: 'producer',
  SPAN_KIND_CONSUMER: 'consumer',
};

interface OtlpKeyValue {
  key: string;
  value?: OtlpAnyValue;
}
interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number | { low: number; high: number };
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  bytesValue?: string;
}
type OtlpTime = string | number | { low: number; high: number } | undefined;
interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: OtlpTime;
  endTimeUnixNano?: OtlpTime;
  attributes?: OtlpKeyValue[];
  status?: { code?: number | string; message?: string };
  events?: Array<{ name?: string; attributes?: OtlpKeyValue[] }>;
  links?: Array<{ traceId?: string; spanId?: string }>;
}
export interface OtlpTraceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: Array<{ spans?: OtlpSpan[] }>;
  }>;
}

/** An id as lowercase hex, whether it came as hex or base64. */
export function idToHex(id: string | undefined, bytes: number): string | undefined {
  if (!id) return undefined;
  if (id.length === bytes * 2 && /^[\da-f]+$/i.test(id)) return id.toLowerCase();
  const hex = Buffer.from(id, 'base64').toString('hex');
  return hex.length === bytes * 2 ? hex : undefined;
}

function nanos(value: OtlpTime): bigint {
  if (value === undefined) return 0n;
  if (typeof value === 'object') return (BigInt(value.high >>> 0) << 32n) | BigInt(value.low >>> 0);
  return BigInt(typeof value === 'number' ? Math.round(value) : value);
}

/** Nanoseconds since the epoch as milliseconds, to the microsecond. */
const toMs = (value: OtlpTime) => Number(nanos(value) / 1_000n) / 1_000;

function anyValue(value: OtlpAnyValue | undefined): AttributeValue | undefined {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.intValue !== undefined) return Number(nanos(value.intValue));
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.arrayValue) {
    return (value.arrayValue.values ?? []).map(anyValue).filter((v): v is string | number | boolean => v !== undefined && !Array.isArray(v));
  }
  if (value.kvlistValue) return JSON.stringify(attributesOf(value.kvlistValue.values));
  return undefined;
}

export function attributesOf(list: OtlpKeyValue[] | undefined): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const { key, value } of list ?? []) {
    const converted = anyValue(value);
    if (converted !== undefined) out[key] = converted;
  }
  return out;
}

function statusOf(code: number | string | undefined): StoredSpan['status'] {
  if (code === 2 || code === 'STATUS_CODE_ERROR') return 'error';
  if (code === 1 || code === 'STATUS_CODE_OK') return 'ok';
  return 'unset';
}

/** Every valid span of an export request; malformed spans are skipped. */
export function spansFromOtlp(request: OtlpTraceRequest): StoredSpan[] {
  const spans: StoredSpan[] = [];
  for (const resourceSpans of request.resourceSpans ?? []) {
    const resource = attributesOf(resourceSpans.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : 'unknown';
    for (const scope of resourceSpans.scopeSpans ?? []) {
      for (const span of scope.spans ?? []) {
        const traceId = idToHex(span.traceId, 16);
        const spanId = idToHex(span.spanId, 8);
        if (!traceId || !spanId) continue;
        const parentSpanId = idToHex(span.parentSpanId, 8);
        const exceptions = (span.events ?? [])
          .filter((event) => event.name === 'exception')
          .map((event) => {
            const attributes = attributesOf(event.attributes);
            return String(attributes['exception.message'] ?? attributes['exception.type'] ?? 'exception');
          });
        const links = (span.links ?? [])
          .map((link) => ({ traceId: idToHex(link.traceId, 16), spanId: idToHex(link.spanId, 8) }))
          .filter((link): link is { traceId: string; spanId: string } => link.traceId !== undefined && link.spanId !== undefined);
        const stored: StoredSpan = {
          traceId,
          spanId,
          ...(parentSpanId && parentSpanId !== '0000000000000000' ? { parentSpanId } : {}),
          name: span.name ?? '',
          kind: (typeof span.kind === 'string' ? KIND_NAMES[span.kind] : KINDS[span.kind ?? 1]) ?? 'internal',
          service,
          start: toMs(span.startTimeUnixNano),
          end: toMs(span.endTimeUnixNano),
          status: statusOf(span.status?.code),
          attributes: attributesOf(span.attributes),
        };
        if (span.status?.message) stored.statusMessage = span.status.message;
        if (links.length > 0) stored.links = links;
        if (exceptions.length > 0) stored.exceptions = exceptions;
        spans.push(stored);
      }
    }
  }
  return spans;
}
