/**
 * `topics tail`: reads partitions with the client's reader (its consumer group is its own and
 * deleted on close, Ctrl-C included; nothing is committed), from a start position, optionally until the end offsets seen at
 * start (--exit), filters, formats and writes in one chunk per fetched batch.
 */
import { MsctlError } from '../core/errors';
import type { ReadPosition, TopicsKafka } from '../infra/kafka/client';
import { startOffset, type FromSpec } from './from';
import type { Formatter, KcatContext } from './format';
import { requireTopics } from './inspect';
import { TailMessage } from './message';

export interface TailOptions {
  topics: string[];
  /** Only these partitions (of every topic); undefined: all. */
  partitions?: number[];
  from: FromSpec;
  /** Stop at the end offsets captured at start. */
  exit: boolean;
  /** Stop after this many printed (matching) messages. */
  max?: number;
  filter?: (message: TailMessage) => boolean;
  format: Formatter;
  /** How long a fetch waits at the end of the log before answering (follow mode). */
  maxWaitMs?: number;
}

export interface TailIo {
  /** Writes one chunk; resolves when the sink can take more (backpressure). Returns false when the sink is gone (EPIPE). */
  write(chunk: string | Buffer): Promise<boolean> | boolean;
  signal: AbortSignal;
  /** Told once the start offsets are known (e.g. to print "following from …" on stderr). */
  onStart?(positions: ReadPosition[]): void;
}

export interface TailResult {
  /** Messages printed. */
  printed: number;
  /** Messages read (printed or filtered out). */
  scanned: number;
  /** Why it stopped. */
  reason: 'end' | 'max' | 'interrupted' | 'closed';
  positions: ReadPosition[];
}

/** Where each selected partition starts (and, with --exit, stops). */
export async function resolvePositions(kafka: TopicsKafka, options: Pick<TailOptions, 'topics' | 'partitions' | 'from' | 'exit'>): Promise<ReadPosition[]> {
  const topics = await requireTopics(kafka, options.topics);
  const positions: ReadPosition[] = [];
  for (const topic of topics) {
    const selected = options.partitions ? topic.partitions.filter((p) => options.partitions!.includes(p.partition)) : topic.partitions;
    if (options.partitions && selected.length === 0) {
      throw new MsctlError(
        'USAGE',
        `topic '${topic.name}' has no partition ${options.partitions.join(', ')} (it has ${topic.partitions.map((p) => p.partition).join(', ')})`,
        'drop -p to read every partition',
      );
    }
    const atTime = options.from.kind === 'time' ? await kafka.offsetsForTime(topic.name, options.from.timestamp) : undefined;
    for (const p of selected) {
      positions.push({
        topic: topic.name,
        partition: p.partition,
        offset: startOffset(options.from, p.low, p.high, atTime?.get(p.partition)),
        ...(options.exit ? { until: p.high } : {}),
      });
    }
  }
  return positions;
}

/** The leaders and timestamp types of the topics, for `--format kcat` (kcat names the broker it fetched from: the leader). */
export async function kcatContext(kafka: TopicsKafka, names: string[]): Promise<KcatContext> {
  const topics = await requireTopics(kafka, names);
  const leaders = new Map(topics.flatMap((t) => t.partitions.map((p) => [`${t.name}:${p.partition}`, p.leader] as const)));
  const types = new Map(
    await Promise.all(
      topics.map(async (t) => {
        const type = (await kafka.topicConfigs(t.name)).find((e) => e.name === 'message.timestamp.type')?.value;
        return [t.name, type === 'LogAppendTime' ? ('logappend' as const) : ('create' as const)] as const;
      }),
    ),
  );
  return { leader: (topic, partition) => leaders.get(`${topic}:${partition}`) ?? -1, timestampType: (topic) => types.get(topic) ?? 'create' };
}

export async function tail(kafka: TopicsKafka, options: TailOptions, io: TailIo): Promise<TailResult> {
  const positions = await resolvePositions(kafka, options);
  io.onStart?.(positions);
  const result: TailResult = { printed: 0, scanned: 0, reason: 'end', positions };
  if (io.signal.aborted) return { ...result, reason: 'interrupted' };
  if (options.max === 0) return { ...result, reason: 'max' };
  const reader = await kafka.reader(positions, { maxWaitMs: options.maxWaitMs ?? 500 });
  const aborted = new Promise<'aborted'>((resolve) => io.signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
  const { filter, format } = options;
  const max = options.max ?? Number.POSITIVE_INFINITY;
  try {
    for (;;) {
      const batches = await Promise.race([reader.next(), aborted]);
      if (batches === 'aborted') return { ...result, reason: 'interrupted' };
      if (batches === null) return result;
      const parts: Array<string | Buffer> = [];
      let binary = false;
      let stop = false;
      outer: for (const batch of batches) {
        for (const record of batch.records) {
          result.scanned++;
          const message = new TailMessage(batch.topic, batch.partition, record);
          if (filter && !filter(message)) continue;
          const out = format(message);
          parts.push(out);
          if (typeof out !== 'string') binary = true;
          if (++result.printed >= max) {
            stop = true;
            break outer;
          }
        }
      }
      if (parts.length > 0) {
        const chunk = binary ? Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part))) : parts.join('');
        if ((await io.write(chunk)) === false) return { ...result, reason: 'closed' };
      }
      if (stop) return { ...result, reason: 'max' };
      if (io.signal.aborted) return { ...result, reason: 'interrupted' };
    }
  } finally {
    await reader.close();
  }
}
