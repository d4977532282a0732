/**
 * What a consumer should do when its handler fails: wait and try the same records again, or
 * set one record aside. The answer depends on whether the failure comes from the world (a
 * dependency down, slow or busy) or from the record itself (bytes PostgreSQL refuses, a value
 * that is not a CloudEvent). Pure: the consumer (consumer.ts) acts on the verdict.
 */
import { ZodError } from 'zod';
import { CircuitOpenError } from './circuit-breaker';
import { InvalidCloudEventError } from './cloudevents';
import { HttpError } from './http-errors';

/**
 * Why a record was dead-lettered, as written in its `dlq.error.class` header:
 * - `data`: PostgreSQL refused its values (SQLSTATE class 22 or 23);
 * - `invalid-event`: its value is not a CloudEvent (not UTF-8, not JSON, not the schema);
 * - `rejected`: the handler refused it (its schema, or an explicit rejection);
 * - `handler`: the handler threw on it every time it was tried alone.
 */
export type DeadLetterClass = 'data' | 'invalid-event' | 'rejected' | 'handler';

export type FailureVerdict =
  /** The world is unwell: keep the offset, wait, try the same records again. */
  | { kind: 'retry'; code: string; reason: string }
  /** This record can never be applied: dead-letter it. */
  | { kind: 'record'; class: DeadLetterClass; code: string; reason: string }
  /** Not known either way: isolate the record and dead-letter it only if it fails every time. */
  | { kind: 'suspect'; code: string; reason: string };

/** Socket and DNS errors: the peer is away, not the record at fault. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * SQLSTATE classes (the first two characters) that say nothing about the record: the server is
 * away (08), out of resources (53), shutting down or cancelled a statement (57), in trouble
 * (58, XX), or the transaction met another (40: serialization failure, deadlock). Classes 42
 * (undefined table, syntax), 28 (authentication), 3D/3F (missing database or schema), 0A and 55
 * are here too: they fail every record alike, so dead-lettering would empty the partition into
 * the dead letters; waiting keeps the records until the deployment is fixed.
 */
const RETRY_CLASSES = new Set(['08', '53', '57', '58', 'XX', '40', '42', '28', '3D', '3F', '0A', '55', '25']);
/** Data exceptions (22) and integrity violations (23): this record's values cannot be stored. */
const RECORD_CLASSES = new Set(['22', '23']);
/** The idempotency claim racing another instance is a conflict on this table, worth a retry. */
const IDEMPOTENCY_CONSTRAINT = 'processed_events_pkey';

/** kafkajs protocol errors that are the record's fault when a handler produces it onwards. */
const KAFKA_RECORD_ERRORS = new Set(['MESSAGE_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'RECORD_LIST_TOO_LARGE']);

/** pg's own client-side errors when the server or the pool is away (they carry no SQLSTATE). */
const PG_CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error/,
  /Client was closed and is not queryable/,
  /Cannot use a pool after calling end/,
  /^Query read timeout/,
];

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

export function classifyFailure(error: unknown): FailureVerdict {
  const reason = messageOf(error);
  for (const link of causes(error)) {
    if (link instanceof CircuitOpenError) return { kind: 'retry', code: 'circuit-open', reason };
    if (link instanceof InvalidCloudEventError) return { kind: 'record', class: 'invalid-event', code: 'invalid-event', reason };
    if (link instanceof ZodError) return { kind: 'record', class: 'rejected', code: 'schema', reason: zodReason(link) };
    if (link instanceof RecordRejectedError) return { kind: 'record', class: 'rejected', code: 'rejected', reason };
    if (link instanceof HttpError) {
      return link.statusCode >= 500 || link.statusCode === 429
        ? { kind: 'retry', code: `http-${link.statusCode}`, reason }
        : { kind: 'record', class: 'rejected', code: `http-${link.statusCode}`, reason };
    }
    const { code, name, type, retriable, constraint } = link as { code?: unknown; name?: unknown; type?: unknown; retriable?: unknown; constraint?: unknown };
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !CONNECTION_CODES.has(code)) {
      const sqlClass = code.slice(0, 2);
      if (RECORD_CLASSES.has(sqlClass)) {
        return constraint === IDEMPOTENCY_CONSTRAINT ? { kind: 'retry', code, reason } : { kind: 'record', class: 'data', code, reason };
      }
      if (RETRY_CLASSES.has(sqlClass)) return { kind: 'retry', code, reason };
    }
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return { kind: 'retry', code, reason };
    if (typeof type === 'string' && KAFKA_RECORD_ERRORS.has(type)) return { kind: 'record', class: 'rejected', code: type, reason };
    if (typeof name === 'string' && name.startsWith('KafkaJS')) {
      // kafkajs marks what a later attempt may cure; connection and timeout errors are among them.
      if (retriable === true || /Connection|Timeout|NumberOfRetriesExceeded|BrokerNotFound|LockTimeout/.test(name)) return { kind: 'retry', code: typeof type === 'string' ? type : name, reason };
    }
    if (PG_CONNECTION_MESSAGES.some((pattern) => pattern.test(messageOf(link)))) return { kind: 'retry', code: 'pg-connection', reason };
  }
  const name = error instanceof Error ? error.name : typeof error;
  return { kind: 'suspect', code: name, reason };
}

function zodReason(error: ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || 'value'}: ${issue.message}`)
    .join('; ');
}

/** Thrown (or returned, see BatchOutcome) by a handler that refuses one record for good. */
export class RecordRejectedError extends Error {
  override readonly name = 'RecordRejectedError';
}
