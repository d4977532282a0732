/**
 * The pure part of data-processing: what an acceptable event looks like (at the HTTP edge and
 * again when consumed from events.raw), how it becomes a CloudEvent, and how a consumed event
 * is enriched.
 */
import { randomUUID } from 'node:crypto';
import { createCloudEvent, type CloudEvent, type ConsumedRecord } from '@msctl/kit';
import { z } from 'zod';

export const EVENT_TYPE_PATTERN = /^[a-z0-9]+([._-][a-z0-9]+)*$/;
export const DEFAULT_SOURCE = '/data-processing';
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

export interface FieldProblem {
  path: string;
  message: string;
}

const pathTo = (parent: string, key: string | number): string =>
  typeof key === 'number' ? `${parent}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? (parent ? `${parent}.${key}` : key) : `${parent}[${JSON.stringify(key)}]`;

/**
 * A number of the request's JSON text that a double does not hold as written: 1e400 (it would
 * become Infinity, then null), 12345678901234567890 (its last digits would change), 1e-400 (0).
 * parseJsonExactly puts one in place of such a number, so that the field can be named and refused.
 */
export class InexactNumber {
  constructor(readonly source: string) {}
  toJSON(): string {
    return this.source;
  }
}

/** Digits and exponent of a decimal, without sign noise or zeros that change nothing: "1.50e2" → "15e1". */
function canonicalDecimal(text: string): string {
  let digits = text.trim();
  let sign = '';
  if (digits.startsWith('-')) {
    sign = '-';
    digits = digits.slice(1);
  }
  let exponent = 0;
  const e = digits.search(/[eE]/);
  if (e >= 0) {
    exponent = Number(digits.slice(e + 1));
    digits = digits.slice(0, e);
  }
  const dot = digits.indexOf('.');
  if (dot >= 0) {
    exponent -= digits.length - dot - 1;
    digits = digits.slice(0, dot) + digits.slice(dot + 1);
  }
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  const kept = digits.replace(/0+$/, '');
  return `${sign}${kept}e${exponent + digits.length - kept.length}`;
}

/**
 * Only a number with 16 or more digits and dots, or a three-digit exponent, can be one a double
 * does not hold as written; and a number starts the text or follows `:`, `,` or `[`. Strings
 * alone do not count: a UUID often holds "e" and three digits, and one in every event of a
 * batch would send nearly every body through the second, slower parse.
 */
export const MAYBE_INEXACT = /(?:^|[:,[])\s*-?\d(?:[\d.]{15,}|[\d.]*[eE][+-]?\d{3,})/;

/**
 * Parses JSON text with `parse` (the server's own, safe against prototype poisoning) and, when
 * the text may hold a number a double cannot carry as written, puts an InexactNumber in its place.
 */
export function parseJsonExactly(text: string, parse: (text: string) => unknown = JSON.parse): unknown {
  const value = parse(text);
  if (!MAYBE_INEXACT.test(text)) return value;
  type Reviver = (this: unknown, key: string, value: unknown, context: { source?: string }) => unknown;
  const reviver: Reviver = (_key, parsed, context) =>
    typeof parsed === 'number' && context.source !== undefined && (!Number.isFinite(parsed) || canonicalDecimal(context.source) !== canonicalDecimal(String(parsed)))
      ? new InexactNumber(context.source)
      : parsed;
  try {
    return JSON.parse(text, reviver as Parameters<typeof JSON.parse>[1]);
  } catch (error) {
    // Nested too deeply for the reviver's recursion: parseIngestBody refuses such a body anyway.
    if (error instanceof RangeError) return value;
    throw error;
  }
}

function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains a NUL character (U+0000), which PostgreSQL cannot store';
  if (!text.isWellFormed()) return 'contains an unpaired UTF-16 surrogate, which is not Unicode text';
  return undefined;
}

/**
 * The first value in `root` that the consumers downstream cannot store or carry as it is:
 * NUL characters and unpaired surrogates in strings or keys (PostgreSQL text and jsonb refuse
 * the first; UTF-8 cannot encode the second), and numbers a double does not hold as written
 * (InexactNumber, from parseJsonExactly; Infinity and NaN).
 */
export function unstorable(root: unknown, rootPath = ''): FieldProblem | undefined {
  // Iterative: nesting depth is bounded by the body size, not by the stack. A value's path is
  // spelled out only for the one at fault: each visit keeps its key and its parent's visit.
  const stack: Visit[] = [{ value: root }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const { value } = visit;
    if (typeof value === 'string') {
      const problem = textProblem(value);
      if (problem) return { path: pathOf(visit, rootPath) || '(value)', message: problem };
    } else if (value instanceof InexactNumber) {
      return {
        path: pathOf(visit, rootPath),
        message: `is the number ${value.source.length > 40 ? `${value.source.slice(0, 40)}…` : value.source}, which a JSON number (a double) does not hold as written; send it as a string`,
      };
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return { path: pathOf(visit, rootPath), message: 'is not a finite number' };
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ value: value[i], key: i, parent: visit });
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i]!;
        const keyProblem = textProblem(key);
        if (keyProblem) return { path: pathOf({ value: undefined, key, parent: visit }, rootPath), message: `is a key that ${keyProblem}` };
        stack.push({ value: (value as Record<string, unknown>)[key], key, parent: visit });
      }
    }
  }
  return undefined;
}

interface Visit {
  value: unknown;
  key?: string | number;
  parent?: Visit;
}

function pathOf(visit: Visit, rootPath: string): string {
  const keys: Array<string | number> = [];
  for (let at: Visit | undefined = visit; at?.key !== undefined; at = at.parent) keys.push(at.key);
  return keys.reduceRight<string>((path, key) => pathTo(path, key), rootPath);
}

/** PostgreSQL's timestamptz takes years 4713 BC to 294276 AD, but ISO 8601 text names a year BC only as 0000 or a sign. */
export function timeProblem(time: string | undefined): string | undefined {
  if (time === undefined) return undefined;
  if (!/^\d{4}-/.test(time) || time.startsWith('0000')) return 'must be an ISO 8601 date-time in the years 0001 to 9999';
  if (Number.isNaN(Date.parse(time))) return 'is not a date-time';
  return undefined;
}

export interface IngestLimits {
  maxBatchSize: number;
  maxEventBytes: number;
  /**
   * The caller every event must belong to: a `subject` or `userId` naming anyone else is
   * refused (403), and an event naming nobody becomes the caller's. Undefined for a caller
   * allowed to post for anyone (the ingest scope).
   */
  owner?: string;
}

export interface InvalidEvent {
  index: number;
  errors: Array<{ path: string; message: string }>;
}

export type IngestParse =
  /** `values` holds each event's JSON text, as its size was checked: what goes to Kafka. */
  | { ok: true; events: CloudEvent[]; values: string[]; batch: boolean }
  | { ok: false; status: 400 | 403 | 413; message: string; invalid?: InvalidEvent[] };

/** The fields of `input` that name someone other than `owner`. */
function foreignOwnerFields(input: IngestEvent, owner: string): InvalidEvent['errors'] {
  const errors: InvalidEvent['errors'] = [];
  for (const field of ['subject', 'userId'] as const) {
    const value = input[field];
    if (value !== undefined && value.toLowerCase() !== owner.toLowerCase()) {
      errors.push({ path: field, message: 'names another user: events posted with your token belong to you' });
    }
  }
  return errors;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The CloudEvent an accepted input becomes: the client's id or a new one, subject = subject ??
 * userId ?? id, and time = the client's time or `receivedAt` (by default, now).
 */
export function toCloudEvent(input: IngestEvent, id: string = input.id?.toLowerCase() ?? randomUUID(), receivedAt?: string): CloudEvent {
  return createCloudEvent({
    id,
    type: input.type,
    source: input.source ?? DEFAULT_SOURCE,
    subject: input.subject ?? input.userId ?? id,
    data: input.data,
    ...(input.time ? { time: input.time } : receivedAt ? { time: receivedAt } : {}),
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
  const values: string[] = [];
  // The events of one body are received at the same instant.
  const receivedAt = new Date().toISOString();
  const invalid: InvalidEvent[] = [];
  const foreign: InvalidEvent[] = [];
  inputs.forEach((input, index) => {
    const result = ingestEventSchema.safeParse(input);
    if (!result.success) {
      invalid.push({
        index,
        errors: result.error.issues.map((issue) => ({ path: issue.path.join('.') || '(event)', message: issue.message })),
      });
      return;
    }
    const problem = unstorable(result.data) ?? (timeProblem(result.data.time) ? { path: 'time', message: timeProblem(result.data.time)! } : undefined);
    if (problem) {
      invalid.push({ index, errors: [problem] });
      return;
    }
    let accepted = result.data;
    if (limits.owner !== undefined) {
      const errors = foreignOwnerFields(accepted, limits.owner);
      if (errors.length > 0) {
        foreign.push({ index, errors });
        return;
      }
      accepted = { ...accepted, subject: accepted.subject ?? accepted.userId ?? limits.owner };
    }
    const event = toCloudEvent(accepted, undefined, receivedAt);
    let value: string;
    try {
      value = JSON.stringify(event);
    } catch {
      // JSON.stringify gives up on data nested thousands of levels deep (RangeError): refuse it.
      invalid.push({ index, errors: [{ path: 'data', message: 'the event cannot be serialized: data is nested too deeply' }] });
      return;
    }
    const size = Buffer.byteLength(value, 'utf8');
    if (size > limits.maxEventBytes) {
      invalid.push({ index, errors: [{ path: 'data', message: `the event is ${size} bytes; at most ${limits.maxEventBytes} are accepted` }] });
      return;
    }
    events.push(event);
    values.push(value);
  });

  if (invalid.length > 0) {
    const message = batch
      ? `${invalid.length} of ${inputs.length} events are not valid (indexes ${invalid.map((i) => i.index).join(', ')}); none was accepted`
      : 'the event is not valid';
    return { ok: false, status: 400, message, invalid };
  }
  if (foreign.length > 0) {
    const message = batch
      ? `${foreign.length} of ${inputs.length} events name another user (indexes ${foreign.map((i) => i.index).join(', ')}); none was accepted`
      : 'the event names another user: events posted with your token belong to you';
    return { ok: false, status: 403, message, invalid: foreign };
  }
  return { ok: true, events, values, batch };
}

/** Why a consumed events.raw record cannot be processed, or undefined when it can. */
export function rejectionReason(record: Pick<ConsumedRecord, 'event' | 'invalidReason' | 'value'>, maxEventBytes = DEFAULT_MAX_EVENT_BYTES): string | undefined {
  if (!record.event) return record.invalidReason ?? 'not a CloudEvent';
  const size = record.value?.length ?? 0;
  if (size > maxEventBytes) return `the event is ${size} bytes; at most ${maxEventBytes} are accepted`;
  const type = eventTypeSchema.safeParse(record.event.type);
  if (!type.success) return `type "${record.event.type}" is not valid: ${type.error.issues.map((i) => i.message).join('; ')}`;
  if (!isPlainObject(record.event.data)) return 'data must be a JSON object';
  const problem = unstorable(record.event);
  if (problem) return `${problem.path} ${problem.message}`;
  const time = timeProblem(record.event.time);
  if (time) return `time ${time}`;
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

// The records of one produce request share their timestamp: the last one's text is kept.
let lastTimestamp: { timestamp: string; iso: string } | undefined;

export function kafkaTimestampToIso(timestamp: string): string {
  if (lastTimestamp?.timestamp === timestamp) return lastTimestamp.iso;
  const ms = Number(timestamp);
  if (!Number.isFinite(ms) || ms < 0) return new Date().toISOString();
  lastTimestamp = { timestamp, iso: new Date(ms).toISOString() };
  return lastTimestamp.iso;
}

/**
 * Same id, source, type, subject, time and data; the subject falls back to the Kafka key so that
 * keying stays stable. `now` may be given as ISO text, made once for a whole batch.
 */
export function enrich(
  event: CloudEvent,
  record: Pick<ConsumedRecord, 'key' | 'partition' | 'offset' | 'timestamp'>,
  now: Date | string = new Date(),
): ProcessedEvent {
  const subject = event.subject ?? record.key ?? undefined;
  return {
    ...event,
    ...(subject !== undefined ? { subject } : {}),
    processedat: typeof now === 'string' ? now : now.toISOString(),
    enrichment: {
      receivedAt: kafkaTimestampToIso(record.timestamp),
      partition: record.partition,
      offset: record.offset,
      category: categoryOf(event.type),
    },
  };
}
