/**
 * The kit's Kafka consumer: hands each fetched batch of a partition to the handler through
 * processBatch (consumer-batch.ts), which retries what the world breaks and dead-letters what
 * the record breaks; commits only past records that were applied or set aside; reports its
 * progress (consumer-progress.ts) for /health; and never stops on its own.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, IHeaders, Kafka } from 'kafkajs';
import { parseCloudEvent, type CloudEvent } from './cloudevents';
import { processBatch, type BatchHandler, type DeadLetterItem, type RetryPolicy } from './consumer-batch';
import { ConsumerProgress } from './consumer-progress';
import { deadLetterMessage } from './dead-letter';
import type { EventProducer } from './kafka';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';
import { OffsetCommitter, type PartitionOffset } from './offset-commits';
import type { ConsumedRecord } from './records';
import type { Tracing } from './tracing';
import { traceConsume } from './tracing-kafka';

export interface DeadLetterTarget {
  /** Writes the dead letters (through the service's producer and its breaker). */
  producer: EventProducer;
  /** The dead-letter topic of a (real, prefixed) source topic. */
  topicFor: (source: string) => string;
}

export interface ConsumerOptions {
  /** Only its consumer factory is used (tests pass a fake). */
  kafka: Pick<Kafka, 'consumer'>;
  groupId: string;
  topics: string[];
  metrics: ServiceMetrics;
  logger: Logger;
  /**
   * Handles records of one partition, in order. When it resolves, their offsets are committed.
   * Each call must be atomic (one transaction) or idempotent: after a failure the records come
   * again, alone or in smaller groups (see consumer-batch.ts).
   */
  handleBatch: BatchHandler;
  /** Where records this consumer cannot apply go; undefined: nowhere, a failing record is retried until it passes. */
  deadLetter?: DeadLetterTarget;
  retry?: RetryPolicy;
  /** A partition with lag that has not moved for this long makes the health check warn. */
  stallAfterMs?: number;
  fromBeginning?: boolean;
  /** What a fetch waits for (see CONSUMER_MIN_BYTES in config.ts); default: 64 KiB or 200 ms. */
  fetch?: { minBytes: number; maxWaitMs: number };
  /** How often processed offsets are committed (CONSUMER_COMMIT_INTERVAL_MS); 0: after every batch. */
  commitIntervalMs?: number;
  /** Consume spans per batch and trace (tracing-kafka.ts). */
  tracing?: Tracing;
  now?: () => number;
}

export interface RunningConsumer {
  /** Leaves the group after committing what was processed. */
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and been assigned partitions. */
  joined: Promise<void>;
  /** What /health reports as `kafka:consumer:<group>`. */
  progress: ConsumerProgress;
}

export const DEFAULT_STALL_AFTER_MS = 30_000;
/** The default of CONSUMER_COMMIT_INTERVAL_MS (config.ts). */
export const DEFAULT_COMMIT_INTERVAL_MS = 1_000;

/**
 * How long stopping waits for the last commit. With Kafka unreachable, kafkajs would try it for
 * half a minute; the service must still shut down, and what it leaves uncommitted comes again.
 */
const STOP_COMMIT_WAIT_MS = 3_000;

/** Back-off before a consumer that kafkajs gave up on is started again. */
const RELAUNCH_BASE_MS = 1_000;
const RELAUNCH_MAX_MS = 30_000;
/**
 * A consumer that applied a record, or stayed up this long, was healthy: the next relaunch waits
 * the base back-off again. Joining the group is not enough: a consumer that crashes on the first
 * batch after each join would otherwise be relaunched (and rebalance its group) every second.
 */
const RELAUNCH_HEALTHY_AFTER_MS = 60_000;

/**
 * A consumer that never stops on its own. kafkajs restarts a crashed consumer itself, except
 * after an error it deems not retriable (a non-retriable protocol error, say): then it just
 * stops, and the service would go on answering /health while it consumes nothing. Here such a
 * consumer is replaced by a new one after a back-off; it resumes from the last committed
 * offsets, and handlers are idempotent. Meanwhile the health check says it is stopped.
 */
export async function startConsumer(options: ConsumerOptions): Promise<RunningConsumer> {
  const progress = new ConsumerProgress(options.groupId, { stallAfterMs: options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS, now: options.now });
  let markJoined: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => (markJoined = resolve));
  const stopping = new AbortController();
  const now = options.now ?? Date.now;
  let current: Consumer | undefined;
  let committer: OffsetCommitter | undefined;
  let relaunchTimer: NodeJS.Timeout | undefined;
  let relaunches = 0;
  let joinedAt: number | undefined;

  const relaunch = (consumer: Consumer, reason: string) => {
    if (stopping.signal.aborted || consumer !== current) return;
    current = undefined;
    committer?.stop();
    if (joinedAt !== undefined && now() - joinedAt >= RELAUNCH_HEALTHY_AFTER_MS) relaunches = 0;
    joinedAt = undefined;
    const delay = Math.min(RELAUNCH_MAX_MS, RELAUNCH_BASE_MS * 2 ** relaunches);
    relaunches += 1;
    progress.stopped(`${reason}; a new consumer starts in ${Math.round(delay / 1000)} s`);
    relaunchTimer = setTimeout(() => {
      relaunchTimer = undefined;
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => (stopping.signal.aborted ? undefined : launch()))
        .catch((error: unknown) => {
          // stop() disconnecting a consumer that was still starting is no failure.
          if (stopping.signal.aborted) return;
          options.logger.error({ err: error, group: options.groupId }, 'could not start the Kafka consumer again; retrying');
          current = consumer;
          relaunch(consumer, `could not start: ${(error as Error).message}`);
        });
    }, delay);
  };

  const launch = async () => {
    const commits = new OffsetCommitter({
      intervalMs: options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS,
      onError: (error) => options.logger.warn({ err: error, group: options.groupId }, 'could not commit consumer offsets; they stay pending for the next commit'),
    });
    const consumer = createConsumer(options, (assignment) => {
      // A rebalance joins again: the healthy period counts from the first join.
      joinedAt ??= now();
      progress.assigned(assignment);
      commits.assigned(assignment);
      markJoined();
    });
    current = consumer;
    committer = commits;
    // Before the group takes partitions away, what they reached is committed, so their next owner
    // reads again as little as it can.
    consumer.on(consumer.events.REBALANCING, () => void commits.flush((offsets) => consumer.commitOffsets(offsets)));
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const fields = { err: payload.error, group: options.groupId };
      if (payload.restart) return options.logger.warn(fields, 'Kafka consumer crashed; kafkajs restarts it');
      options.logger.error(fields, 'Kafka consumer stopped on an error kafkajs does not retry; starting a new one');
      relaunch(consumer, payload.error.message);
    });
    try {
      await runConsumer(consumer, options, progress, commits, stopping.signal, () => (relaunches = 0));
      commits.start((offsets) => consumer.commitOffsets(offsets));
      // kafkajs reports a failed join as a crash and resolves run() all the same: then this
      // consumer is gone and the health check must go on saying so.
      if (current === consumer) progress.running();
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    // stop() came while this one was starting.
    if (stopping.signal.aborted) await consumer.disconnect();
  };

  await launch();
  return {
    joined,
    progress,
    stop: async () => {
      stopping.abort();
      clearTimeout(relaunchTimer);
      const consumer = current;
      const commits = committer;
      // While the consumer still runs: kafkajs drops commits once it is stopping. A batch still
      // under way commits what it reached itself, before the consumer leaves the group.
      commits?.stop();
      if (consumer && commits) await commitWithin(STOP_COMMIT_WAIT_MS, commits.flush((offsets) => consumer.commitOffsets(offsets)));
      await consumer?.disconnect();
    },
  };
}

function createConsumer(options: ConsumerOptions, onJoin: (assignment: Record<string, number[]>) => void): Consumer {
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    // An idle fetch returns after maxWait; shutdown waits for the fetch in flight, so it stays short.
    minBytes: options.fetch?.minBytes ?? 65_536,
    maxWaitTimeInMs: options.fetch?.maxWaitMs ?? 200,
    retry: { initialRetryTime: 300, retries: 10, maxRetryTime: 5_000 },
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => onJoin(payload.memberAssignment as Record<string, number[]>));
  return consumer;
}

async function runConsumer(
  consumer: Consumer,
  options: ConsumerOptions,
  progress: ConsumerProgress,
  commits: OffsetCommitter,
  stopping: AbortSignal,
  onProgress: () => void,
): Promise<void> {
  const group = options.groupId;
  const deadLetter = options.deadLetter;
  const writeDeadLetters = deadLetter
    ? async (items: DeadLetterItem[]) => {
        const now = new Date(options.now?.() ?? Date.now());
        const byTopic = new Map<string, DeadLetterItem[]>();
        for (const item of items) byTopic.set(item.record.topic, [...(byTopic.get(item.record.topic) ?? []), item]);
        await Promise.all(
          [...byTopic].map(([source, list]) =>
            deadLetter.producer.send(
              deadLetter.topicFor(source),
              list.map(({ record, cause }) =>
                deadLetterMessage(
                  { topic: record.topic, partition: record.partition, offset: record.offset, timestamp: record.timestamp, key: record.rawKey, value: record.value, headers: record.rawHeaders },
                  cause,
                  group,
                  now,
                ),
              ),
              { traced: false },
            ),
          ),
        );
        progress.deadLettered(items.length);
        for (const { record, cause } of items) {
          options.metrics.kafkaDeadLetters.inc({ topic: record.topic, group, class: cause.class });
          options.logger.error(
            { group, topic: record.topic, partition: record.partition, offset: record.offset, class: cause.class, code: cause.code, attempts: cause.attempts, reason: cause.reason },
            `record dead-lettered to ${deadLetter.topicFor(record.topic)}`,
          );
        }
      }
    : undefined;
  const pause = (ms: number) => sleep(ms, undefined, { signal: stopping }).catch(() => undefined);

  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      const { topic, partition } = batch;
      progress.fetched(topic, partition, Number(batch.firstOffset()), Number(batch.highWatermark));
      const records = batch.messages.map((message) => toRecord(topic, partition, message));
      const meta = { topic, partition, group };
      let tries = 0;
      const result = await processBatch(records, {
        handle: (segment) => {
          // Tracing rewrites each record's traceparent to its consume span: a segment tried
          // again starts from the headers it arrived with, not from the last try's span.
          if (tries++ > 0 && options.tracing?.enabled) for (const record of segment) record.headers = decodeHeaders(record.rawHeaders);
          return traceConsume(options.tracing, meta, segment, () => options.handleBatch(segment));
        },
        deadLetter: writeDeadLetters,
        resolve: (record) => {
          resolveOffset(record.offset);
          commits.resolved(topic, partition, record.offset);
          progress.resolved(topic, partition, Number(record.offset));
          onProgress();
        },
        active: () => isRunning() && !isStale() && !stopping.aborted,
        heartbeat,
        sleep: pause,
        policy: options.retry,
        onFailure: (failure) => {
          progress.failed(topic, partition, failure.record.offset, failure.verdict);
          const fields = { group, topic, partition, offset: failure.record.offset, records: failure.count, code: failure.verdict.code, reason: failure.verdict.reason };
          if (failure.next === 'retry') options.logger.warn({ ...fields, retryInMs: failure.retryInMs }, `handler failed (${failure.verdict.kind}); trying again`);
          else if (failure.next === 'split') options.logger.debug(fields, 'handler failed; splitting the batch to find the record at fault');
        },
      });
      if (result === 'done') options.metrics.kafkaConsumed.inc({ topic, group }, records.length);
      if (commits.everyBatch || stopping.aborted) await commits.flush((offsets) => commitOffsetsIfNecessary(byTopic(offsets)));
      await heartbeat();
    },
  });
}

function commitWithin(ms: number, commit: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([commit, waited]).finally(() => clearTimeout(timer));
}

/** kafkajs' shape for explicit offsets inside a batch. */
function byTopic(offsets: PartitionOffset[]): { topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> } {
  const topics = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const { topic, partition, offset } of offsets) topics.set(topic, [...(topics.get(topic) ?? []), { partition, offset }]);
  return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) };
}

function toRecord(topic: string, partition: number, message: { offset: string; key: Buffer | null; value: Buffer | null; headers?: IHeaders; timestamp: string }): ConsumedRecord {
  let event: CloudEvent | undefined;
  let invalidReason: string | undefined;
  try {
    event = parseCloudEvent(message.value);
  } catch (error) {
    invalidReason = (error as Error).message;
  }
  // kafkajs decodes header values to Buffers: kept as they are, for a dead letter to copy.
  const rawHeaders = (message.headers ?? {}) as Record<string, Buffer | Buffer[]>;
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key?.toString('utf8') ?? null,
    headers: decodeHeaders(rawHeaders),
    value: message.value,
    timestamp: message.timestamp,
    event,
    invalidReason,
    rawKey: message.key ?? null,
    rawHeaders,
  };
}

function decodeHeaders(headers: Record<string, Buffer | Buffer[]>): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) decoded[name] = first.toString();
  }
  return decoded;
}
