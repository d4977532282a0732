/**
 * The kit's Kafka client and producer: producers batch concurrent sends into one acks=all
 * request. Consumers are in consumer.ts. Everything else speaks CloudEvents, topics and batches.
 */
import { ConfigResourceTypes, Kafka, logLevel as KafkaLogLevel, type Admin, type LogEntry, type Producer } from 'kafkajs';
import type { Circuit } from './circuit-breaker';
import { CLOUDEVENTS_CONTENT_TYPE, type CloudEvent } from './cloudevents';
import type { Logger } from './logger';
import type { ServiceMetrics } from './metrics';
import type { OutgoingMessage } from './records';
import type { Tracing } from './tracing';
import { traceProduce } from './tracing-kafka';
import { KeyHashPartitioner } from './partitioner';
import { setTimeout as sleep } from 'node:timers/promises';

export interface KafkaConnection {
  brokers: string[];
  clientId: string;
  /** Prepended to topic and group names. */
  prefix: string;
}

export type { ConsumedRecord, OutgoingMessage } from './records';

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
      await sleep(100);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Kafka's own default retention (log.retention.hours=168), assumed when a topic's cannot be read. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 3_600_000;

/**
 * The longest `retention.ms` among these topics: how long Kafka may deliver one of their records
 * again. Infinity when one keeps its records for ever (retention.ms=-1).
 */
export async function longestRetentionMs(kafka: Kafka, topics: string[]): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['retention.ms'] })),
    });
    let longest = 0;
    for (const resource of resources) {
      const value = Number(resource.configEntries.find((entry) => entry.configName === 'retention.ms')?.configValue ?? DEFAULT_RETENTION_MS);
      longest = Math.max(longest, value < 0 ? Number.POSITIVE_INFINITY : value);
    }
    return longest || DEFAULT_RETENTION_MS;
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

/** How long sends may wait for a batch in flight before they go out on their own. */
const GROUP_WAIT_MS = 20;

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
 *
 * Sends that arrive while a batch is in flight wait for its acknowledgement and then go out
 * together (group commit): when idle a send leaves after the linger, under load the batches
 * grow with the load instead of the broker taking one request per caller.
 */
export class EventProducer {
  private producer: Producer;
  private readonly pending: PendingSend[] = [];
  private pendingCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = new Set<Promise<void>>();
  private connected: Promise<void> | undefined;

  constructor(private readonly options: EventProducerOptions) {
    this.producer = this.createProducer();
  }

  private createProducer(): Producer {
    return this.options.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: KeyHashPartitioner,
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

  /**
   * A send that failed may still have been written: the connection can close after the broker
   * appended the batch and before its answer came. kafkajs then hands the batch's sequence
   * numbers out again, and the broker, seeing a sequence it has, acknowledges the next
   * (different) messages as duplicates without writing them. A producer that failed a send is
   * therefore never used again: the next send starts a new one, with a new producer id.
   */
  private retire(producer: Producer): void {
    if (this.producer !== producer) return;
    this.producer = this.createProducer();
    this.connected = undefined;
    void producer.disconnect().catch(() => undefined);
  }

  /** Resolves once Kafka has acknowledged (acks=all) every message. */
  /** `traced: false` sends the messages with their headers untouched (dead letters keep the original ones). */
  send(topic: string, messages: OutgoingMessage[], options: { operation?: string; traced?: boolean } = {}): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const traced = traceProduce(options.traced === false ? undefined : this.options.tracing, topic, messages, options.operation);
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
      // Behind a batch in flight, a send waits for its acknowledgement, but never longer than
      // GROUP_WAIT_MS: when the broker does not answer, each send must still fail within its
      // own timeout, not the one before it as well.
      else this.timer ??= setTimeout(() => this.flush(), this.inFlight.size === 0 ? (this.options.lingerMs ?? 2) : GROUP_WAIT_MS);
    });
  }

  sendEvents(topic: string, events: CloudEvent[], headers?: (event: CloudEvent) => Record<string, string>): Promise<void> {
    return this.send(topic, events.map((event) => toMessage(event, headers?.(event))));
  }

  /** Sends what is queued and waits for everything in flight. */
  async close(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight.size > 0) {
      this.flush();
      await Promise.allSettled([...this.inFlight]);
    }
    await this.producer.disconnect();
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending.splice(0);
    this.pendingCount = 0;
    const sending = this.sendBatch(batch).finally(() => {
      this.inFlight.delete(sending);
      // What queued up meanwhile goes out now, as one batch.
      if (this.inFlight.size === 0 && this.pending.length > 0) this.flush();
    });
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
        const producer = this.producer;
        await this.connect();
        await producer
          .sendBatch({
            acks: -1,
            topicMessages: [...byTopic].map(([topic, messages]) => ({
              topic,
              messages: messages.map((message) => ({
                key: message.key,
                value: message.value,
                headers: message.headers ?? {},
              })),
            })),
          })
          .catch((error: unknown) => {
            this.retire(producer);
            throw error;
          });
      });
      for (const [topic, messages] of byTopic) this.options.metrics.kafkaProduced.inc({ topic }, messages.length);
      for (const item of batch) item.resolve();
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

/** `value`: the event's JSON text, when the caller has it already. */
export function toMessage(event: CloudEvent, headers: Record<string, string> = {}, value: string = JSON.stringify(event)): OutgoingMessage {
  return {
    key: event.subject ?? null,
    value,
    headers: { 'content-type': CLOUDEVENTS_CONTENT_TYPE, ...headers },
  };
}

export type { Kafka };
