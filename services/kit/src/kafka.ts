/**
 * The one module that touches kafkajs. Everything else speaks CloudEvents, topics and
 * batches: producers that batch concurrent sends into one acks=all request, consumers that
 * hand whole batches to a handler and commit only what the handler finished.
 */
import {
  Kafka,
  Partitioners,
  logLevel as KafkaLogLevel,
  type Admin,
  type Consumer,
  type IHeaders,
  type LogEntry,
  type Producer,
} from 'kafkajs';
import type { Circuit } from './circuit-breaker';
import { CLOUDEVENTS_CONTENT_TYPE, parseCloudEvent, type CloudEvent } from './cloudevents';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';
import type { Tracing } from './tracing';
import { traceConsume, traceProduce } from './tracing-kafka';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  /** Prepended to topic and group names. */
  prefix: string;
}

export interface OutgoingMessage {
  key: string | null;
  value: string;
  headers?: Record<string, string>;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
  value: Buffer | null;
  timestamp: string;
  /** The CloudEvent carried by the message, or why the value is not one. */
  event: CloudEvent | undefined;
  invalidReason: string | undefined;
}

const kafkaLogLevel: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

const IDEMPOTENT_RETRIES_WARNING = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';

export function createKafka(connection: KafkaConnection, logger: Logger): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: connection.clientId,
    brokers: connection.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 200, retries: 5, maxRetryTime: 5_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...rest } = log;
        // Retries are limited on purpose: a request fails fast (503) instead of hanging.
        if (message === IDEMPOTENT_RETRIES_WARNING) return;
        kafkaLogger[kafkaLogLevel[level] ?? 'info'](rest, message);
      },
  });
}

export const prefixed = (prefix: string, name: string) => `${prefix}${name}`;

export interface TopicSpec {
  topic: string;
  partitions: number;
}

/**
 * Creates the topics that do not exist yet (with their partition counts) and waits until
 * every partition of every one has a leader: a topic another instance created a moment ago
 * may exist without one yet, and clients then fail with "does not host this topic-partition".
 */
const TOLERATED_CREATE_ERRORS = new Set(['TOPIC_ALREADY_EXISTS', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

export async function ensureTopics(kafka: Kafka, topics: TopicSpec[], timeoutMs = 30_000): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((spec) => ({ topic: spec.topic, numPartitions: spec.partitions })),
        });
      } catch (error) {
        // Another instance may have created the same topic between our list and create, or the
        // new topics' metadata may lag (waitForLeaders gives up early): the loop below waits for leaders.
        if (!TOLERATED_CREATE_ERRORS.has((error as { type?: string }).type ?? '')) throw error;
      }
    }
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaderless = await admin
        .fetchTopicMetadata({ topics: topics.map((spec) => spec.topic) })
        .then((metadata) => metadata.topics.filter((topic) => topic.partitions.length === 0 || topic.partitions.some((p) => p.leader < 0)))
        .catch(() => topics);
      if (leaderless.length === 0) return;
      if (Date.now() > deadline) throw new Error(`Kafka topics without a leader after ${timeoutMs} ms: ${leaderless.map((t) => ('name' in t ? t.name : t.topic)).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect();
  }
}

/** A health probe: asks the cluster for its metadata with a dedicated, non-retrying admin client. */
export function kafkaProbe(kafka: Kafka): { probe: () => Promise<void>; close: () => Promise<void> } {
  let admin: Admin | undefined;
  return {
    probe: async () => {
      if (!admin) {
        admin = kafka.admin({ retry: { retries: 0 } });
        await admin.connect();
      }
      try {
        await admin.describeCluster();
      } catch (error) {
        const stale = admin;
        admin = undefined;
        await stale.disconnect().catch(() => undefined);
        throw error;
      }
    },
    close: async () => {
      await admin?.disconnect().catch(() => undefined);
    },
  };
}

interface PendingSend {
  topic: string;
  messages: OutgoingMessage[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface EventProducerOptions {
  kafka: Kafka;
  circuit: Circuit;
  metrics: ServiceMetrics;
  /** How long to wait for more sends to join a batch. kafkajs has no linger of its own. */
  lingerMs?: number;
  maxBatchMessages?: number;
  /** Produce spans; each message's traceparent names its span (tracing-kafka.ts). */
  tracing?: Tracing;
}

/**
 * An idempotent producer with acks=all whose concurrent `send` calls are merged into one
 * request: each caller's promise settles when the batch holding its messages is acknowledged
 * by every in-sync replica. Every request goes through the "kafka" circuit breaker.
 */
export class EventProducer {
  private readonly producer: Producer;
  private readonly pending: PendingSend[] = [];
  private pendingCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private connected: Promise<void> | undefined;

  constructor(private readonly options: EventProducerOptions) {
    this.producer = options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1_000 },
    });
  }

  connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((error: unknown) => {
      this.connected = undefined;
      throw error;
    });
    return this.connected;
  }

  /** Resolves once Kafka has acknowledged (acks=all) every message. */
  send(topic: string, messages: OutgoingMessage[], options: { operation?: string } = {}): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const traced = traceProduce(this.options.tracing, topic, messages, options.operation);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({
        topic,
        messages: traced.messages,
        resolve: () => {
          traced.end();
          resolve();
        },
        reject: (error) => {
          traced.end(error);
          reject(error);
        },
      });
      this.pendingCount += messages.length;
      if (this.pendingCount >= (this.options.maxBatchMessages ?? 1_000)) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.lingerMs ?? 2);
    });
  }

  sendEvents(topic: string, events: CloudEvent[], headers?: (event: CloudEvent) => Record<string, string>): Promise<void> {
    return this.send(topic, events.map((event) => toMessage(event, headers?.(event))));
  }

  /** Sends what is queued and waits for everything in flight. */
  async close(): Promise<void> {
    this.flush();
    await Promise.allSettled([...this.inFlight]);
    await this.producer.disconnect();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    this.pendingCount = 0;
    const sending = this.sendBatch(batch).finally(() => this.inFlight.delete(sending));
    this.inFlight.add(sending);
  }

  private async sendBatch(batch: PendingSend[]): Promise<void> {
    const byTopic = new Map<string, OutgoingMessage[]>();
    for (const item of batch) {
      const list = byTopic.get(item.topic) ?? [];
      list.push(...item.messages);
      byTopic.set(item.topic, list);
    }
    try {
      await this.options.circuit.run(async () => {
        await this.connect();
        await this.producer.sendBatch({
          acks: -1,
          topicMessages: [...byTopic].map(([topic, messages]) => ({
            topic,
            messages: messages.map((message) => ({
              key: message.key,
              value: message.value,
              headers: message.headers ?? {},
            })),
          })),
        });
      });
      for (const [topic, messages] of byTopic) this.options.metrics.kafkaProduced.inc({ topic }, messages.length);
      for (const item of batch) item.resolve();
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

export function toMessage(event: CloudEvent, headers: Record<string, string> = {}): OutgoingMessage {
  return {
    key: event.subject ?? null,
    value: JSON.stringify(event),
    headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE, ...headers },
  };
}

export interface ConsumerOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  metrics: ServiceMetrics;
  logger: Logger;
  /**
   * Handles one batch of one partition. When it resolves, the batch's offsets are committed;
   * when it throws, nothing is committed and the batch is delivered again after a back-off,
   * so the handler's effects must be idempotent (see claimEvents).
   */
  handleBatch: (records: ConsumedRecord[]) => Promise<void>;
  fromBeginning?: boolean;
  /** Consume spans per batch and trace (tracing-kafka.ts). */
  tracing?: Tracing;
}

export interface RunningConsumer {
  /** Leaves the group after committing what was processed. */
  stop(): Promise<void>;
  /** Resolves once the consumer has joined its group and been assigned partitions. */
  joined: Promise<void>;
}

/** Back-off before a consumer that kafkajs gave up on is started again. */
const RELAUNCH_BASE_MS = 1_000;
const RELAUNCH_MAX_MS = 30_000;

/**
 * A consumer that never stops on its own. kafkajs restarts a crashed consumer itself, except
 * after an error it deems not retriable (a TypeError in a handler, a non-retriable protocol
 * error from a producer the handler uses…): then it just stops, and the service would go on
 * answering /health while it consumes nothing. Here such a consumer is replaced by a new one
 * after a back-off; it resumes from the last committed offsets, and handlers are idempotent.
 */
export async function startConsumer(options: ConsumerOptions): Promise<RunningConsumer> {
  let markJoined: () => void = () => undefined;
  const joined = new Promise<void>((resolve) => (markJoined = resolve));
  let current: Consumer | undefined;
  let stopping = false;
  let relaunchTimer: NodeJS.Timeout | undefined;
  let relaunches = 0;

  const relaunch = (consumer: Consumer) => {
    if (stopping || consumer !== current) return;
    current = undefined;
    const delay = Math.min(RELAUNCH_MAX_MS, RELAUNCH_BASE_MS * 2 ** relaunches);
    relaunches += 1;
    relaunchTimer = setTimeout(() => {
      relaunchTimer = undefined;
      void consumer
        .disconnect()
        .catch(() => undefined)
        .then(() => (stopping ? undefined : launch()))
        .catch((error: unknown) => {
          options.logger.error({ err: error, group: options.groupId }, 'could not start the Kafka consumer again; retrying');
          current = consumer;
          relaunch(consumer);
        });
    }, delay);
  };

  const launch = async () => {
    const consumer = createConsumer(options, () => {
      relaunches = 0;
      markJoined();
    });
    current = consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const fields = { err: payload.error, group: options.groupId };
      if (payload.restart) return options.logger.warn(fields, 'Kafka consumer crashed; kafkajs restarts it');
      options.logger.error(fields, 'Kafka consumer stopped on an error kafkajs does not retry; starting a new one');
      relaunch(consumer);
    });
    try {
      await runConsumer(consumer, options);
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    // stop() came while this one was starting.
    if (stopping) await consumer.disconnect();
  };

  await launch();
  return {
    joined,
    stop: async () => {
      stopping = true;
      clearTimeout(relaunchTimer);
      await current?.disconnect();
    },
  };
}

function createConsumer(options: ConsumerOptions, onJoin: () => void): Consumer {
  const consumer: Consumer = options.kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    // An idle fetch returns after this long; shutdown waits for the fetch in flight, so keep it short.
    maxWaitTimeInMs: 1_000,
    retry: { initialRetryTime: 300, retries: 10, maxRetryTime: 5_000 },
  });
  consumer.on(consumer.events.GROUP_JOIN, onJoin);
  return consumer;
}

async function runConsumer(consumer: Consumer, options: ConsumerOptions): Promise<void> {
  await consumer.connect();
  await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
  await consumer.run({
    autoCommit: true,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
      if (!isRunning() || isStale() || batch.messages.length === 0) return;
      const records = batch.messages.map((message): ConsumedRecord => {
        let event: CloudEvent | undefined;
        let invalidReason: string | undefined;
        try {
          event = parseCloudEvent(message.value);
        } catch (error) {
          invalidReason = (error as Error).message;
        }
        return {
          topic: batch.topic,
          partition: batch.partition,
          offset: message.offset,
          key: message.key?.toString('utf8') ?? null,
          headers: decodeHeaders(message.headers),
          value: message.value,
          timestamp: message.timestamp,
          event,
          invalidReason,
        };
      });
      await traceConsume(options.tracing, { topic: batch.topic, partition: batch.partition, group: options.groupId }, records, () =>
        options.handleBatch(records),
      );
      resolveOffset(batch.lastOffset());
      options.metrics.kafkaConsumed.inc({ topic: batch.topic, group: options.groupId }, records.length);
      await commitOffsetsIfNecessary();
      await heartbeat();
    },
  });
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const decoded: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) decoded[name] = first.toString();
  }
  return decoded;
}

export type { Kafka };
