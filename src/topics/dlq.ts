/**
 * `topics dlq`: the dead letters the consumers set aside (see services/kit/src/dead-letter.ts
 * for the contract), read with the client's reader (nothing committed); and `topics dlq replay`: chosen ones sent
 * back to their source topic, value, key and headers as they were, so that consumers, which are
 * idempotent by event id, apply each once, however often it is replayed.
 */
import { isDeadLetterTopic, readDeadLetter, replayHeaders, type DeadLetterInfo } from '../../services/kit/src/dead-letter';
import { MsctlError } from '../core/errors';
import type { OutgoingMessage, ReadPosition, TopicInfo, TopicsKafka } from '../infra/kafka/client';
import { isInternalTopic } from './inspect';
import { TailMessage } from './message';
import { similarNames } from './similar';

export interface DeadLetter {
  /** Where the dead letter itself is. */
  at: { topic: string; partition: number; offset: number; timestamp: number };
  info: DeadLetterInfo;
  message: TailMessage;
}

export interface DeadLetterSelection {
  /** A dead-letter topic, or a source topic (its dead letters, from every dead-letter topic); undefined: all. */
  topic?: string;
  /** Only those written by this consumer group. */
  group?: string;
  /** Only those of this class (data, invalid-event, rejected, handler). */
  errorClass?: string;
  /** Filters on the record itself (`--key`, `--type`, `--where`, `--grep`; see filter.ts). */
  filter?: (message: TailMessage) => boolean;
  /** At most this many (the first ones, in log order). */
  max?: number;
}

export interface DeadLetters {
  /** The dead-letter topics read. */
  topics: string[];
  letters: DeadLetter[];
}

/** Which dead-letter topics a selection reads, and which source topic it keeps (when one was named). */
async function resolveTopics(kafka: TopicsKafka, topic: string | undefined): Promise<{ read: string[]; source?: string }> {
  const existing = await kafka.listTopics();
  const dlqTopics = existing.filter((name) => isDeadLetterTopic(name) && !isInternalTopic(name)).sort();
  if (topic === undefined || dlqTopics.includes(topic)) return { read: topic === undefined ? dlqTopics : [topic] };
  if (existing.includes(topic)) return { read: dlqTopics, source: topic };
  const similar = similarNames(topic, existing.filter((name) => !isInternalTopic(name)));
  throw new MsctlError(
    'UNKNOWN_TOPIC',
    `topic '${topic}' does not exist on ${kafka.brokers.join(', ')}${similar.length > 0 ? `; similar: ${similar.join(', ')}` : ''}`,
    dlqTopics.length > 0 ? `dead-letter topics: ${dlqTopics.join(', ')}` : 'no dead-letter topic exists yet: no consumer has set a record aside',
  );
}

/** Reads every dead letter of the selection, from the start of each dead-letter topic to its end now. */
export async function readDeadLetters(kafka: TopicsKafka, selection: DeadLetterSelection, signal?: AbortSignal): Promise<DeadLetters> {
  const { read, source } = await resolveTopics(kafka, selection.topic);
  const letters: DeadLetter[] = [];
  const infos = await kafka.describeTopics(read);
  const positions: ReadPosition[] = infos.flatMap((info) =>
    info.partitions.filter((p) => p.high > p.low).map((p) => ({ topic: info.name, partition: p.partition, offset: p.low, until: p.high })),
  );
  if (positions.length === 0) return { topics: read, letters };
  const max = selection.max ?? Number.POSITIVE_INFINITY;
  const reader = await kafka.reader(positions, { maxWaitMs: 100 });
  try {
    for (;;) {
      if (signal?.aborted) throw new MsctlError('INTERRUPTED', 'interrupted while reading the dead letters');
      const batches = await reader.next();
      if (batches === null) break;
      for (const batch of batches) {
        for (const record of batch.records) {
          const message = new TailMessage(batch.topic, batch.partition, record);
          const info = readDeadLetter((name) => message.header(name));
          if (!info) continue;
          if (source !== undefined && info.topic !== source) continue;
          if (selection.group !== undefined && info.group !== selection.group) continue;
          if (selection.errorClass !== undefined && info.class !== selection.errorClass) continue;
          if (selection.filter && !selection.filter(message)) continue;
          letters.push({ at: { topic: batch.topic, partition: batch.partition, offset: record.offset, timestamp: record.timestamp }, info, message });
          if (letters.length >= max) return { topics: read, letters: sortLetters(letters) };
        }
      }
    }
  } finally {
    await reader.close();
  }
  return { topics: read, letters: sortLetters(letters) };
}

const sortLetters = (letters: DeadLetter[]) =>
  letters.sort((a, b) => a.at.timestamp - b.at.timestamp || a.at.topic.localeCompare(b.at.topic) || a.at.partition - b.at.partition || a.at.offset - b.at.offset);

/**
 * The records to send back: one per source record (two groups that set the same record aside
 * wrote two dead letters of it; consumers would drop the second anyway, by event id).
 */
export function replaySet(letters: DeadLetter[]): { send: DeadLetter[]; duplicates: number } {
  const seen = new Set<string>();
  const send: DeadLetter[] = [];
  for (const letter of letters) {
    const origin = `${letter.info.topic}\u0000${letter.info.partition}\u0000${letter.info.offset}`;
    if (seen.has(origin)) continue;
    seen.add(origin);
    send.push(letter);
  }
  return { send, duplicates: letters.length - send.length };
}

/** The message that replays a dead letter: its original key, value and headers, keyed to the partition the key belongs to now. */
export function replayMessage(letter: DeadLetter, partitionOf: (key: Buffer | null) => number): OutgoingMessage {
  const record = letter.message.record;
  const headers: Record<string, Buffer | Buffer[]> = {};
  for (const [name, value] of Object.entries(record.headers)) if (value !== undefined) headers[name] = value;
  return {
    key: record.key,
    value: record.value,
    headers: replayHeaders(headers, `${letter.at.topic}:${letter.at.partition}:${letter.at.offset}`, (text) => Buffer.from(text)),
    partition: partitionOf(record.key),
  };
}

export interface Replayed {
  source: { topic: string; partition: number; offset: number };
  from: { topic: string; partition: number; offset: number };
  to: { topic: string; partition: number; offset: number };
}

/** Sends the letters back to their source topics; returns where each one landed. */
export async function replayDeadLetters(kafka: TopicsKafka, letters: DeadLetter[]): Promise<Replayed[]> {
  const byTopic = new Map<string, DeadLetter[]>();
  for (const letter of letters) byTopic.set(letter.info.topic, [...(byTopic.get(letter.info.topic) ?? []), letter]);
  const existing = new Set(await kafka.listTopics());
  const gone = [...byTopic.keys()].filter((topic) => !existing.has(topic));
  if (gone.length > 0) {
    throw new MsctlError('UNKNOWN_TOPIC', `the source topic ${gone.map((t) => `'${t}'`).join(', ')} of these dead letters does not exist any more`, 'create it again (msctl up creates the stack\'s topics), then replay');
  }
  const infos = new Map((await kafka.describeTopics([...byTopic.keys()])).map((info) => [info.name, info]));
  const replayed: Replayed[] = [];
  for (const [topic, list] of byTopic) {
    const info = infos.get(topic) as TopicInfo;
    const keyed = kafka.partitioner(info);
    const partitions = new Set(info.partitions.map((p) => p.partition));
    // A record without a key goes back to the partition it came from, while that exists.
    const partitionOf = (letter: DeadLetter) => (key: Buffer | null) => (key === null && partitions.has(letter.info.partition) ? letter.info.partition : keyed(key));
    const messages = list.map((letter) => replayMessage(letter, partitionOf(letter)));
    const produced = await kafka.produce(topic, messages);
    const next = new Map(produced.map((p) => [p.partition, p.baseOffset]));
    list.forEach((letter, index) => {
      const partition = messages[index]!.partition;
      const offset = next.get(partition) ?? -1;
      next.set(partition, offset + 1);
      replayed.push({
        source: { topic: letter.info.topic, partition: letter.info.partition, offset: letter.info.offset },
        from: { topic: letter.at.topic, partition: letter.at.partition, offset: letter.at.offset },
        to: { topic, partition, offset },
      });
    });
  }
  return replayed;
}

/** A dead letter as one JSON object: where it is, where it came from, why, and the record (as `topics tail --json` shows one). */
export function deadLetterJson(letter: DeadLetter): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(letter.message.record.headers)) {
    if (name.startsWith('dlq.')) continue;
    const value = letter.message.header(name);
    if (value !== undefined) headers[name] = value;
  }
  const value = letter.message.value;
  return {
    deadLetter: letter.at,
    source: { topic: letter.info.topic, partition: letter.info.partition, offset: letter.info.offset, timestamp: letter.info.timestamp ?? null },
    group: letter.info.group,
    class: letter.info.class,
    code: letter.info.code,
    reason: letter.info.reason,
    attempts: letter.info.attempts,
    setAsideAt: letter.info.at ?? null,
    key: letter.message.key,
    headers,
    value: value.kind === 'json' ? value.json : value.kind === 'null' ? null : value.text,
    ...(value.kind === 'binary' ? { valueEncoding: 'base64' } : {}),
  };
}
