/**
 * The pure part of data-processing: what an acceptable event looks like (at the HTTP edge and
 * again when consumed from events.raw), how it becomes a CloudEvent, how a consumed event is
 * enriched, and what a dead letter carries.
 */
import { randomUUID } from 'node:crypto';
import { createCloudEvent, type CloudEvent, type ConsumedRecord } from '@msctl/kit';
import { z } from 'zod';

export const EVENT_TYPE_PATTERN = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
export const DEFAULT_SOURCE = '/data-processing';
export const DLQ_EVENT_TYPE = 'msctl.dlq';
/** The largest serialized event (the Kafka message value) accepted, in bytes. */
export const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;

export const eventTypeSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(EVENT_TYPE_PATTERN, 'lowercase words separated by ".", "_" or "-", e.g. page.viewed');

const idSchema = z.string().min(1).max(256);

/** One event as a client sends it to POST /events. */
export const ingestEventSchema = z.object({
  /**
   * The client's own id for the event (a UUID it makes). A 503 or a lost answer leaves the
   * outcome unknown; sending the event again with the same id is safe: consumers count an id once.
   */
  id: z.uuid().optional(),
  type: eventTypeSchema,
  subject: idSchema.optional(),
  userId: idSchema.optional(),
  source: z.string().min(1).max(256).optional(),
  time: z.iso.datetime({ offset: true }).optional(),
  data: z.record(z.string(), z.unknown(), 'a JSON object'),
});

export type IngestEvent = z.infer<typeof ingestEventSchema>;

export interface IngestLimits {
  maxBatchSize: number;
  maxEventBytes: number;
}

export interface InvalidEvent {
  index: number;
  errors: Array<{ path: string; message: string }>;
}

export type IngestParse =
  | { ok: true; events: CloudEvent[]; batch: boolean }
  | { ok: false; status: 400 | 413; message: string; invalid?: InvalidEvent[] };

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** The CloudEvent an accepted input becomes: the client's id or a new one, subject = subject ?? userId ?? id. */
export function toCloudEvent(input: IngestEvent, id: string = input.id?.toLowerCase() ?? randomUUID()): CloudEvent {
  return createCloudEvent({
    id,
    type: input.type,
    source: input.source ?? DEFAULT_SOURCE,
    subject: input.subject ?? input.userId ?? id,
    data: input.data,
    ...(input.time ? { time: input.time } : {}),
  });
}

/**
 * Parses the body of POST /events: one event, or `{ events: [...] }`. A batch is all or
 * nothing: when any event is invalid, the answer lists every bad index and none is accepted.
 */
export function parseIngestBody(body: unknown, limits: IngestLimits): IngestParse {
  const batch = isPlainObject(body) && 'events' in body;
  let inputs: unknown[];
  if (batch) {
    const list = body.events;
    if (!Array.isArray(list)) return { ok: false, status: 400, message: '"events" must be an array of events' };
    if (list.length === 0) return { ok: false, status: 400, message: '"events" must hold at least one event' };
    if (list.length > limits.maxBatchSize) {
      return {
        ok: false,
        status: 413,
        message: `a batch holds at most ${limits.maxBatchSize} events; this one has ${list.length}. Split it into smaller batches`,
      };
    }
    inputs = list;
  } else {
    inputs = [body];
  }

  const events: CloudEvent[] = [];
  const invalid: InvalidEvent[] = [];
  inputs.forEach((input, index) => {
    const result = ingestEventSchema.safeParse(input);
    if (!result.success) {
      invalid.push({
        index,
        errors: result.error.issues.map((issue) => ({ path: issue.path.join('.') || '(event)', message: issue.message })),
      });
      return;
    }
    const event = toCloudEvent(result.data);
    let size: number;
    try {
      size = byteLength(event);
    } catch {
      // JSON.stringify gives up on data nested thousands of levels deep (RangeError): refuse it.
      invalid.push({ index, errors: [{ path: 'data', message: 'the event cannot be serialized: data is nested too deeply' }] });
      return;
    }
    if (size > limits.maxEventBytes) {
      invalid.push({ index, errors: [{ path: 'data', message: `the event is ${size} bytes; at most ${limits.maxEventBytes} are accepted` }] });
      return;
    }
    events.push(event);
  });

  if (invalid.length > 0) {
    const message = batch
      ? `${invalid.length} of ${inputs.length} events are not valid (indexes ${invalid.map((i) => i.index).join(', ')}); none was accepted`
      : 'the event is not valid';
    return { ok: false, status: 400, message, invalid };
  }
  return { ok: true, events, batch };
}

/** Why a consumed events.raw record cannot be processed, or undefined when it can. */
export function rejectionReason(record: Pick<ConsumedRecord, 'event' | 'invalidReason' | 'value'>, maxEventBytes = DEFAULT_MAX_EVENT_BYTES): string | undefined {
  if (!record.event) return record.invalidReason ?? 'not a CloudEvent';
  const size = record.value?.length ?? 0;
  if (size > maxEventBytes) return `the event is ${size} bytes; at most ${maxEventBytes} are accepted`;
  const type = eventTypeSchema.safeParse(record.event.type);
  if (!type.success) return `type "${record.event.type}" is not valid: ${type.error.issues.map((i) => i.message).join('; ')}`;
  if (!isPlainObject(record.event.data)) return 'data must be a JSON object';
  return undefined;
}

export interface Enrichment {
  /** When Kafka received the raw event (the message timestamp). */
  receivedAt: string;
  partition: number;
  offset: string;
  /** The first segment of the type: "page" for "page.viewed". */
  category: string;
}

/** A processed event: the original one, untouched, plus two extension attributes. */
export type ProcessedEvent = CloudEvent & { processedat: string; enrichment: Enrichment };

export function categoryOf(type: string): string {
  return type.split(/[._-]/, 1)[0] ?? type;
}

export function kafkaTimestampToIso(timestamp: string): string {
  const ms = Number(timestamp);
  return Number.isFinite(ms) && ms >= 0 ? new Date(ms).toISOString() : new Date().toISOString();
}

/** Same id, source, type, subject, time and data; the subject falls back to the Kafka key so that keying stays stable. */
export function enrich(
  event: CloudEvent,
  record: Pick<ConsumedRecord, 'key' | 'partition' | 'offset' | 'timestamp'>,
  now: Date = new Date(),
): ProcessedEvent {
  const subject = event.subject ?? record.key ?? undefined;
  return {
    ...event,
    ...(subject !== undefined ? { subject } : {}),
    processedat: now.toISOString(),
    enrichment: {
      receivedAt: kafkaTimestampToIso(record.timestamp),
      partition: record.partition,
      offset: record.offset,
      category: categoryOf(event.type),
    },
  };
}

export interface DeadLetter {
  reason: string;
  topic: string;
  partition: number;
  offset: string;
  /** The original message value as text (null when the message had none). */
  original: string | null;
}

/**
 * The dead letter for a record. Its id is derived from the record's position, so a
 * redelivered record yields the same dead letter id and downstream can deduplicate it.
 */
export function deadLetter(record: Pick<ConsumedRecord, 'topic' | 'partition' | 'offset' | 'key' | 'value' | 'event'>, reason: string): CloudEvent<DeadLetter> {
  const id = `dlq:${record.topic}:${record.partition}:${record.offset}`;
  return createCloudEvent<DeadLetter>({
    id,
    type: DLQ_EVENT_TYPE,
    source: DEFAULT_SOURCE,
    subject: record.key ?? record.event?.id ?? id,
    data: {
      reason,
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      original: record.value === null ? null : record.value.toString('utf8'),
    },
  });
}
