/**
 * The dead-letter contract, shared by the consumers that write dead letters and by the tools
 * that read and replay them (`msctl topics dlq`). A dead letter is the original record, value
 * and key byte for byte, with its original headers, plus `dlq.*` headers that say where it came
 * from and why it was set aside. Pure: no Kafka client here.
 */
import type { DeadLetterClass } from './failures';

export const DEAD_LETTER_SUFFIX = '.dlq';

/** Header names, in the spirit of Kafka Connect's `__connect.errors.*` and Spring's `kafka_dlt-*`. */
export const DLQ_HEADERS = {
  topic: 'dlq.original.topic',
  partition: 'dlq.original.partition',
  offset: 'dlq.original.offset',
  timestamp: 'dlq.original.timestamp',
  group: 'dlq.consumer.group',
  errorClass: 'dlq.error.class',
  errorCode: 'dlq.error.code',
  reason: 'dlq.error.reason',
  attempts: 'dlq.attempts',
  at: 'dlq.at',
  /** Set on a record replayed from a dead-letter topic: `<dlq topic>:<partition>:<offset>`. */
  replayedFrom: 'dlq.replayed.from',
} as const;

/** The dead-letter topic of a source topic: `events.processed` → `events.processed.dlq`. */
export const deadLetterTopicFor = (source: string): string => `${source}${DEAD_LETTER_SUFFIX}`;

export const isDeadLetterTopic = (topic: string): boolean => topic.endsWith(DEAD_LETTER_SUFFIX);

/** Reasons are cut here: a header is read in a terminal, not a place for a whole stack trace. */
const MAX_REASON_CHARS = 1_000;

export interface DeadLetterOrigin {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  /** The record's headers as received (raw bytes; a repeated name holds an array). */
  headers: Record<string, Buffer | Buffer[]>;
}

export interface DeadLetterCause {
  class: DeadLetterClass;
  code: string;
  reason: string;
  attempts: number;
}

export interface DeadLetterMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[] | string>;
}

/** The message to write to the dead-letter topic for one record. */
export function deadLetterMessage(origin: DeadLetterOrigin, cause: DeadLetterCause, group: string, now: Date): DeadLetterMessage {
  const headers: DeadLetterMessage['headers'] = {};
  for (const [name, value] of Object.entries(origin.headers)) if (!name.startsWith('dlq.')) headers[name] = value;
  headers[DLQ_HEADERS.topic] = origin.topic;
  headers[DLQ_HEADERS.partition] = String(origin.partition);
  headers[DLQ_HEADERS.offset] = origin.offset;
  headers[DLQ_HEADERS.timestamp] = origin.timestamp;
  headers[DLQ_HEADERS.group] = group;
  headers[DLQ_HEADERS.errorClass] = cause.class;
  headers[DLQ_HEADERS.errorCode] = cause.code;
  headers[DLQ_HEADERS.reason] = cause.reason.length > MAX_REASON_CHARS ? `${cause.reason.slice(0, MAX_REASON_CHARS)}…` : cause.reason;
  headers[DLQ_HEADERS.attempts] = String(cause.attempts);
  headers[DLQ_HEADERS.at] = now.toISOString();
  return { key: origin.key, value: origin.value, headers };
}

/** What a reader learns from a dead letter's headers (undefined when it is not one). */
export interface DeadLetterInfo {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number | undefined;
  group: string;
  class: string;
  code: string;
  reason: string;
  attempts: number;
  at: string | undefined;
}

export function readDeadLetter(header: (name: string) => string | undefined): DeadLetterInfo | undefined {
  const topic = header(DLQ_HEADERS.topic);
  const partition = Number(header(DLQ_HEADERS.partition));
  const offset = Number(header(DLQ_HEADERS.offset));
  if (topic === undefined || !Number.isInteger(partition) || !Number.isInteger(offset)) return undefined;
  const timestamp = Number(header(DLQ_HEADERS.timestamp));
  return {
    topic,
    partition,
    offset,
    timestamp: Number.isFinite(timestamp) ? timestamp : undefined,
    group: header(DLQ_HEADERS.group) ?? '',
    class: header(DLQ_HEADERS.errorClass) ?? '',
    code: header(DLQ_HEADERS.errorCode) ?? '',
    reason: header(DLQ_HEADERS.reason) ?? '',
    attempts: Number(header(DLQ_HEADERS.attempts)) || 0,
    at: header(DLQ_HEADERS.at),
  };
}

/** The headers a replayed record carries: the original ones, without the `dlq.*` set, plus where it was replayed from. */
export function replayHeaders<V>(headers: Record<string, V>, from: string, wrap: (text: string) => V): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [name, value] of Object.entries(headers)) if (!name.startsWith('dlq.')) out[name] = value;
  out[DLQ_HEADERS.replayedFrom] = wrap(from);
  return out;
}
