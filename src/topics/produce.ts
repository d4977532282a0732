/**
 * `topics produce`: values from arguments or stdin lines, keyed, with headers, optionally wrapped
 * in a CloudEvents 1.0 envelope. Lines are batched while a send is in flight (kafkajs has no
 * linger), so a pipe of a million lines goes in a few hundred requests; order is kept.
 */
import { randomUUID } from 'node:crypto';
import { MsctlError } from '../core/errors';
import type { OutgoingMessage, TopicsKafka } from '../infra/kafka/client';
import { requireTopics } from './inspect';

export interface ProduceOptions {
  topic: string;
  key?: string;
  /** `k=v` pairs; a repeated name sends the header several times. */
  headers: string[];
  /** Wrap each value in a CloudEvent of this type. */
  cloudEvent?: string;
  partition?: number;
  /** Most messages per request (default 5000). */
  batchSize?: number;
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
  source: AsyncIterable<string> | Iterable<string>,
  onSent: (results: Produced[]) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<number> {
  const [topic] = await requireTopics(kafka, [options.topic]);
  if (options.partition !== undefined && !topic!.partitions.some((p) => p.partition === options.partition)) {
    throw new MsctlError('USAGE', `topic '${options.topic}' has no partition ${options.partition} (it has ${topic!.partitions.length})`, 'drop -p to let the key choose the partition');
  }
  const headers = parseHeaders(options.headers);
  if (options.cloudEvent !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/cloudevents+json';
  const hasHeaders = Object.keys(headers).length > 0;
  const partitionFor = kafka.partitioner(topic!);
  const fixedPartition = options.partition ?? (options.key !== undefined ? partitionFor(options.key) : undefined);
  const batchSize = options.batchSize ?? 5_000;
  const key = options.key ?? null;

  const toMessage = (value: string): OutgoingMessage => ({
    key,
    value: options.cloudEvent !== undefined ? JSON.stringify(cloudEvent(options.cloudEvent, value, options.key)) : value,
    ...(hasHeaders ? { headers } : {}),
    partition: fixedPartition ?? partitionFor(null),
  });

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
      return { topic: options.topic, partition: m.partition, offset, key: options.key ?? null };
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
