import { releaseMemoryWhenIdle } from './memory';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { AssertionVerifier, internalVerifierConfigSchema } from './auth';
import { requireCallers } from './caller';
import { CircuitRegistry, type Circuit } from './circuit-breaker';
import { ConfigError, baseConfigSchema, kafkaConfigSchema, loadConfig, postgresConfigSchema } from './config';
import { HealthReporter } from './health';
import type { BatchHandler } from './consumer-batch';
import { startConsumer, type RunningConsumer } from './consumer';
import { deadLetterTopicFor } from './dead-letter';
import { IdempotencyJanitor, PROCESSED_EVENTS_EXPIRY_MIGRATION, PROCESSED_EVENTS_MIGRATION, idempotencyWindowMs } from './idempotency';
import { DEFAULT_RETENTION_MS, EventProducer, createKafka, ensureTopics, kafkaProbe, longestRetentionMs, prefixed, type Kafka } from './kafka';
import { createLogger, type Logger } from './logger';
import { ServiceMetrics } from './metrics';
import { OUTBOX_MIGRATION, OutboxRelay } from './outbox';
import { Database, isDatabaseFailure, type Migration } from './postgres';
import { createServer, drainHttp } from './server';
import { createTracing, type Tracing } from './tracing';

type BaseConfig = z.infer<typeof baseConfigSchema>;

export interface ServiceDefinition<Config extends BaseConfig> {
  name: string;
  version?: string;
  /**
   * The service that faces clients and authenticates end users itself (the gateway). Every other
   * service accepts only requests that carry the gateway's assertion (caller.ts).
   */
  edge?: boolean;
  /** The full schema of the service's environment; extend baseConfigSchema (and kafka/postgres schemas when used). */
  config: z.ZodType<Config>;
  postgres?: { migrations: Migration[]; outbox?: boolean };
  kafka?: {
    /** Logical topic names (without prefix) this service produces or consumes; created if missing. */
    topics: string[];
  };
  /** Registers routes and consumers. Runs after migrations, before the server listens. */
  setup(context: ServiceContext<Config>): Promise<void> | void;
}

export interface ConsumerSpec {
  /** Logical group name; prefixed like topics. */
  group: string;
  topics: string[];
  /**
   * Applies records of one partition, in order; offsets are committed once it resolves. Each
   * call must be atomic (one transaction) or idempotent: after a failure the records come again,
   * alone or in smaller groups. It may return records it refuses for good (`rejected`).
   */
  handleBatch: BatchHandler;
  /**
   * What happens to a record this consumer cannot apply (see consumer-batch.ts). `true`: it
   * goes to the dead-letter topic of its source topic (`<topic>.dlq`), and the partition moves
   * on; records that are not CloudEvents never reach the handler. `{ topic }` names the
   * dead-letter topic of a (logical) source topic. `false`: it is retried until it passes, the
   * partition waits, and /health says it is stalled.
   */
  deadLetter: boolean | { topic: (source: string) => string };
}

export interface ServiceContext<Config> {
  config: Config;
  logger: Logger;
  metrics: ServiceMetrics;
  circuits: CircuitRegistry;
  health: HealthReporter;
  app: FastifyInstance;
  /** Present when the definition declares `postgres`. */
  db: Database | undefined;
  /** Present when the definition declares `kafka`. */
  producer: EventProducer | undefined;
  kafka: Kafka | undefined;
  /** The real topic name for a logical one. */
  topic(name: string): string;
  consume(spec: ConsumerSpec): void;
  /** Registers a step for graceful shutdown, run after the server stopped accepting and drained. */
  onClose(step: () => Promise<void> | void): void;
  circuit(name: string): Circuit;
  /** OpenTelemetry tracing of this service (tracing.ts). */
  tracing: Tracing;
}

export interface RunningService<Config> {
  url: string;
  port: number;
  context: ServiceContext<Config>;
  /** Resolves once every consumer joined its group. */
  consumersReady: Promise<void>;
  close(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
}

export function requireDb<Config>(context: ServiceContext<Config>): Database {
  if (!context.db) throw new Error('this service did not declare postgres');
  return context.db;
}

export function requireProducer<Config>(context: ServiceContext<Config>): EventProducer {
  if (!context.producer) throw new Error('this service did not declare kafka');
  return context.producer;
}

/** Builds, wires and starts one service instance; `close` shuts it down gracefully. */
export async function startService<Config extends BaseConfig>(
  definition: ServiceDefinition<Config>,
  options: StartOptions = {},
): Promise<RunningService<Config>> {
  const env: Record<string, string | undefined> = { SERVICE_NAME: definition.name, ...(options.env ?? process.env) };
  const config = loadConfig(definition.name, definition.config, env);
  const logger = createLogger(config.SERVICE_NAME, config.LOG_LEVEL);
  const metrics = new ServiceMetrics(config.SERVICE_NAME);
  const circuits = new CircuitRegistry(
    {
      timeoutMs: config.BREAKER_TIMEOUT_MS,
      resetMs: config.BREAKER_RESET_MS,
      errorThresholdPercent: config.BREAKER_ERROR_THRESHOLD_PERCENT,
      volumeThreshold: config.BREAKER_VOLUME_THRESHOLD,
    },
    metrics,
  );
  const health = new HealthReporter(config.SERVICE_NAME, definition.version ?? '0.1.0', circuits, { probeMaxAgeMs: config.HEALTH_PROBE_MAX_AGE_MS });
  const tracing = createTracing({ service: config.SERVICE_NAME, version: definition.version, env });
  const app = createServer({ logger, metrics, health, bodyLimitBytes: config.BODY_LIMIT_BYTES, tracing, slowRequestMs: config.LOG_SLOW_REQUEST_MS });
  if (!definition.edge) {
    const { INTERNAL_AUTH_PUBLIC_KEY } = loadConfig(definition.name, internalVerifierConfigSchema, env);
    requireCallers(app, new AssertionVerifier(INTERNAL_AUTH_PUBLIC_KEY, config.SERVICE_NAME));
  }
  const closeSteps: Array<() => Promise<void> | void> = [];
  const consumerSpecs: ConsumerSpec[] = [];

  let db: Database | undefined;
  let pgConfig: z.infer<typeof postgresConfigSchema> | undefined;
  if (definition.postgres) {
    pgConfig = loadConfig(definition.name, postgresConfigSchema, env);
    db = new Database({
      url: pgConfig.DATABASE_URL,
      schema: pgConfig.DATABASE_SCHEMA,
      poolSize: pgConfig.DATABASE_POOL_SIZE,
      circuit: circuits.get('postgres', { isDependencyFailure: isDatabaseFailure }),
      logger,
    });
    const database = db;
    const migrations = [
      PROCESSED_EVENTS_MIGRATION,
      PROCESSED_EVENTS_EXPIRY_MIGRATION,
      ...(definition.postgres.outbox ? [OUTBOX_MIGRATION] : []),
      ...definition.postgres.migrations,
    ];
    const applied = await database.migrate(migrations);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    health.addCheck({ name: 'postgres:connection', componentType: 'datastore', probe: () => database.probe() });
  }

  let kafka: Kafka | undefined;
  let kafkaConfig: z.infer<typeof kafkaConfigSchema> | undefined;
  let producer: EventProducer | undefined;
  let prefix = '';
  let probe: ReturnType<typeof kafkaProbe> | undefined;
  const partitions = Number(env.KAFKA_PARTITIONS ?? 3);
  if (definition.kafka) {
    kafkaConfig = loadConfig(definition.name, kafkaConfigSchema, env);
    prefix = kafkaConfig.KAFKA_TOPIC_PREFIX;
    kafka = createKafka({ brokers: kafkaConfig.KAFKA_BROKERS, clientId: config.SERVICE_NAME, prefix }, logger);
    await ensureTopics(kafka, definition.kafka.topics.map((name) => ({ topic: prefixed(prefix, name), partitions })));
    producer = new EventProducer({ kafka, circuit: circuits.get('kafka', { timeoutMs: kafkaConfig.KAFKA_SEND_TIMEOUT_MS }), metrics, tracing });
    await producer.connect();
    probe = kafkaProbe(kafka);
    health.addCheck({ name: 'kafka:connection', componentType: 'component', probe: probe.probe });
  }

  const context: ServiceContext<Config> = {
    config,
    logger,
    metrics,
    circuits,
    health,
    app,
    db,
    producer,
    kafka,
    topic: (name) => prefixed(prefix, name),
    consume: (spec) => consumerSpecs.push(spec),
    onClose: (step) => closeSteps.push(step),
    circuit: (name) => circuits.get(name),
    tracing,
  };
  await definition.setup(context);

  let relay: OutboxRelay | undefined;
  if (definition.postgres?.outbox && db && producer) {
    relay = new OutboxRelay({
      db: db.withCircuit(circuits.get('postgres:outbox', { isDependencyFailure: isDatabaseFailure })),
      producer,
      logger,
      lingerMs: pgConfig?.OUTBOX_LINGER_MS,
    });
    await relay.start();
  }

  const consumers: RunningConsumer[] = [];
  let janitor: IdempotencyJanitor | undefined;
  if (consumerSpecs.length > 0) {
    if (!kafka || !kafkaConfig || !producer) throw new Error(`${definition.name}: a consumer needs the kafka section`);
    const deadLetterTopics = new Map<string, string>();
    for (const spec of consumerSpecs) {
      if (spec.deadLetter === false) continue;
      const name = spec.deadLetter === true ? deadLetterTopicFor : spec.deadLetter.topic;
      for (const topic of spec.topics) deadLetterTopics.set(prefixed(prefix, topic), prefixed(prefix, name(topic)));
    }
    await ensureTopics(kafka, [...new Set(deadLetterTopics.values())].map((topic) => ({ topic, partitions })));
    for (const spec of consumerSpecs) {
      const groupId = prefixed(prefix, spec.group);
      const consumer = await startConsumer({
        kafka,
        groupId,
        topics: spec.topics.map((name) => prefixed(prefix, name)),
        metrics,
        logger,
        handleBatch: spec.handleBatch,
        deadLetter: spec.deadLetter === false ? undefined : { producer, topicFor: (source) => deadLetterTopics.get(source) ?? deadLetterTopicFor(source) },
        retry: { maxAttempts: kafkaConfig.CONSUMER_MAX_ATTEMPTS, retryBaseMs: kafkaConfig.CONSUMER_RETRY_BASE_MS, retryMaxMs: kafkaConfig.CONSUMER_RETRY_MAX_MS },
        stallAfterMs: kafkaConfig.CONSUMER_STALL_AFTER_MS,
        fetch: { minBytes: kafkaConfig.CONSUMER_MIN_BYTES, maxWaitMs: kafkaConfig.CONSUMER_MAX_WAIT_MS },
        commitIntervalMs: kafkaConfig.CONSUMER_COMMIT_INTERVAL_MS,
        tracing,
      });
      consumers.push(consumer);
      health.addCheck({ name: `kafka:consumer:${groupId}`, componentType: 'component', report: () => consumer.progress.report() });
    }
    if (db && pgConfig) {
      const consumed = [...new Set(consumerSpecs.flatMap((spec) => spec.topics.map((name) => prefixed(prefix, name))))];
      const retention =
        pgConfig.IDEMPOTENCY_RETENTION_MS === undefined
          ? await longestRetentionMs(kafka, consumed).catch((error: unknown) => {
              logger.warn({ err: error }, "could not read the retention of the consumed topics; assuming Kafka's default of 7 days");
              return DEFAULT_RETENTION_MS;
            })
          : Number.POSITIVE_INFINITY;
      const windowMs = idempotencyWindowMs(retention, pgConfig.IDEMPOTENCY_MARGIN_MS, pgConfig.IDEMPOTENCY_RETENTION_MS);
      janitor = new IdempotencyJanitor({ db, logger, windowMs });
      janitor.start();
    }
  }

  await app.listen({ host: config.HOST, port: config.PORT });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  logger.info({ port }, `${config.SERVICE_NAME} listening`);

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const started = performance.now();
      const timings: Record<string, number> = {};
      const step = async (name: string, work: () => Promise<unknown> | unknown) => {
        const stepStarted = performance.now();
        await work();
        timings[name] = Math.round(performance.now() - stepStarted);
      };
      health.markShuttingDown();
      await step('drain', () => drainHttp(app, { maxMs: config.SHUTDOWN_DRAIN_MS }));
      await step('http', () => app.close());
      await step('consumers', () => Promise.allSettled(consumers.map((consumer) => consumer.stop())));
      await step('idempotency-janitor', () => janitor?.stop());
      await step('outbox', () => relay?.stop());
      for (const closeStep of closeSteps) await closeStep();
      await step('producer', () => producer?.close().catch((error: unknown) => logger.warn({ err: error }, 'producer close failed')));
      await step('kafka-probe', () => probe?.close());
      await step('postgres', () => db?.close());
      circuits.shutdown();
      await step('tracing', () => tracing.shutdown());
      logger.info({ ms: Math.round(performance.now() - started), steps: timings }, 'stopped');
    })();
    return closing;
  };

  return {
    url: `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`,
    port,
    context,
    consumersReady: Promise.all(consumers.map((consumer) => consumer.joined)).then(() => undefined),
    close,
  };
}

/**
 * The entry point of a service process: starts it, and on SIGTERM/SIGINT stops accepting,
 * drains in-flight requests, commits consumer offsets and closes pools, within
 * SHUTDOWN_TIMEOUT_MS. A bad configuration exits 78 (EX_CONFIG) with the list of problems.
 */
export async function runService<Config extends BaseConfig>(definition: ServiceDefinition<Config>): Promise<void> {
  let running: RunningService<Config>;
  try {
    running = await startService(definition);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(78);
    }
    process.stderr.write(`${definition.name} failed to start: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  }
  const shutdown = (signal: string) => {
    running.context.logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      running.context.logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, running.context.config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        running.context.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  releaseMemoryWhenIdle({
    onRelease: ({ ms, heapBefore, heapAfter }) => running.context.logger.debug({ ms, heapBefore, heapAfter }, 'quiet again: memory released'),
  }).spell();
}

export { baseConfigSchema, kafkaConfigSchema, postgresConfigSchema };
