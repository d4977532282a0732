/**
 * `topics produce`: values from arguments, stdin or a file, one message a line (a key before a
 * delimiter as kcat -K, or a JSON object per line), keyed, with headers, optionally wrapped
 * in a CloudEvents 1.0 envelope. Lines are batched while a send is in flight (kafkajs has no
 * linger), so a pipe of a million lines goes in a few hundred requests; order is kept.
 */
import { randomUUID } from 'node:crypto';
import { MsctlError } from '../core/errors';
import type { OutgoingMessage, TopicsKafka } from '../infra/kafka/client';
import { requireTopics } from './inspect';

export interface ProduceOptions {
  topic: string;
  /** The key of every message without one of its own. */
  key?: string;
  /** `k=v` pairs; a repeated name sends the header several times. */
  headers: string[];
  /** Wrap each value in a CloudEvent of this type. */
  cloudEvent?: string;
  partition?: number;
  /** Most messages per request (default 5000). */
  batchSize?: number;
}

/** One message to send, as read from a line. */
export interface InputMessage {
  value: string | null;
  /** undefined: the --key of the command (or none). */
  key?: string | null;
  headers?: Record<string, string | string[]>;
}

/** How each input line becomes a message. */
export type LineFormat = { kind: 'value' } | { kind: 'keyed'; delimiter: string } | { kind: 'jsonl' };

const headerValues = (value: unknown): value is string | string[] => typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));

/**
 * A line as a message. keyed: the text before the first delimiter is the key, the rest the value
 * (no delimiter: the whole line is the value, without key, as kcat does). jsonl: an object with
 * value (a string is sent as it is, anything else as its JSON, null as a tombstone), and optional
 * key (string or null) and headers ({name: value or [values]}).
 */
export function parseLine(line: string, format: LineFormat, lineNumber: number): InputMessage {
  if (format.kind === 'value') return { value: line };
  if (format.kind === 'keyed') {
    const at = line.indexOf(format.delimiter);
    return at === -1 ? { value: line, key: null } : { key: line.slice(0, at), value: line.slice(at + format.delimiter.length) };
  }
  const bad = (why: string) =>
    new MsctlError('USAGE', `line ${lineNumber}: ${why}`, 'with --jsonl each line is an object like {"key":"u-1","headers":{"trace":"t-1"},"value":{"hello":"world"}}');
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (error) {
    throw bad(`not JSON (${(error as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw bad('not a JSON object');
  const { key, headers, value, ...rest } = parsed as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw bad(`unknown field ${unknown.map((name) => `"${name}"`).join(', ')} (the fields are key, headers and value)`);
  if (!('value' in parsed)) throw bad('no "value" field (null for a tombstone)');
  if (key !== undefined && key !== null && typeof key !== 'string') throw bad('"key" must be a string or null');
  if (headers !== undefined && (headers === null || typeof headers !== 'object' || Array.isArray(headers) || !Object.values(headers).every(headerValues))) {
    throw bad('"headers" must be an object of strings (or arrays of strings)');
  }
  return {
    value: value === null ? null : typeof value === 'string' ? value : JSON.stringify(value),
    ...(key !== undefined ? { key } : {}),
    ...(headers !== undefined ? { headers: headers as Record<string, string | string[]> } : {}),
  };
}

export interface Produced {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
}

export function parseHeaders(pairs: string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new MsctlError('USAGE', `-H ${pair}: expected name=value`, 'e.g. -H trace=abc -H source=cli');
    const name = pair.slice(0, at);
    const value = pair.slice(at + 1);
    const previous = headers[name];
    headers[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return headers;
}

/** A CloudEvents 1.0 envelope (structured mode) around a value: JSON when it parses, else the text. */
export function cloudEvent(type: string, value: string, key: string | undefined, now: Date = new Date(), id: string = randomUUID()): Record<string, unknown> {
  let data: unknown = value;
  try {
    data = JSON.parse(value);
  } catch {
    /* a plain string is data too */
  }
  return {
    specversion: '1.0',
    id,
    source: '/msctl',
    type,
    time: now.toISOString(),
    ...(key !== undefined ? { subject: key } : {}),
    datacontenttype: 'application/json',
    data,
  };
}

/**
 * Sends every value of `source` in order; `onSent` gets each batch's results (in input order) as
 * soon as the broker acknowledged it (acks=all).
 */
export async function produce(
  kafka: TopicsKafka,
  options: ProduceOptions,
  source: AsyncIterable<InputMessage> | Iterable<InputMessage>,
  onSent: (results: Produced[]) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  const [topic] = await requireTopics(kafka, [options.topic]);
  if (options.partition !== undefined && !topic!.partitions.some((p) => p.partition === options.partition)) {
    throw new MsctlError('USAGE', `topic '${options.topic}' has no partition ${options.partition} (it has ${topic!.partitions.length})`, 'drop -p to let the key choose the partition');
  }
  const headers = parseHeaders(options.headers);
  if (options.cloudEvent !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/cloudevents+json';
  const partitionFor = kafka.partitioner(topic!);
  const batchSize = options.batchSize ?? 5_000;

  const toMessage = (input: InputMessage): OutgoingMessage => {
    const key = input.key === undefined ? (options.key ?? null) : input.key;
    const merged = input.headers === undefined ? headers : { ...headers, ...input.headers };
    let value = input.value;
    if (options.cloudEvent !== undefined && value !== null) value = JSON.stringify(cloudEvent(options.cloudEvent, value, key ?? undefined));
    return {
      key,
      value,
      ...(Object.keys(merged).length > 0 ? { headers: merged } : {}),
      partition: options.partition ?? partitionFor(key),
    };
  };

  let queue: OutgoingMessage[] = [];
  let total = 0;
  let sending: Promise<void> | undefined;
  let failure: unknown;

  const send = async (batch: OutgoingMessage[]) => {
    const base = new Map((await kafka.produce(options.topic, batch)).map((r) => [r.partition, r.baseOffset]));
    const next = new Map<number, number>();
    const results = batch.map((m): Produced => {
      const offset = next.get(m.partition) ?? base.get(m.partition) ?? -1;
      next.set(m.partition, offset + 1);
      return { topic: options.topic, partition: m.partition, offset, key: m.key === null ? null : String(m.key) };
    });
    total += batch.length;
    await onSent(results);
  };
  /** Sends what is queued, batch after batch, while the source keeps filling the queue. */
  const pump = () => {
    sending ??= (async () => {
      try {
        while (queue.length > 0 && failure === undefined) {
          const batch = queue.length > batchSize ? queue.splice(0, batchSize) : queue;
          if (batch === queue) queue = [];
          await send(batch);
        }
      } catch (error) {
        failure = error;
      } finally {
        sending = undefined;
      }
    })();
    return sending;
  };

  for await (const value of source) {
    if (failure !== undefined) break;
    if (signal?.aborted) break;
    queue.push(toMessage(value));
    if (sending === undefined) void pump();
    // Backpressure: a slow broker must not make the queue grow without bound.
    else if (queue.length >= batchSize * 4) await sending;
  }
  while (sending !== undefined || (queue.length > 0 && failure === undefined)) await (sending ?? pump());
  if (failure !== undefined) throw failure;
  return total;
}
