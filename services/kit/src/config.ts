import { z } from 'zod';

/** Thrown when the environment does not describe a valid configuration; lists every problem at once. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** What every service reads from its environment. Services extend it with their own keys. */
export const baseConfigSchema = z.object({
  SERVICE_NAME: z.string().min(1),
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535),
  LOG_LEVEL: logLevel.default('info'),
  /** A request that takes longer is logged as a warning ("slow request"). */
  LOG_SLOW_REQUEST_MS: z.coerce.number().int().positive().default(1_000),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /**
   * How long a stopping service keeps answering (with `Connection: close`) while its clients
   * let go of their connections: longer than they keep one idle (see KEEP_ALIVE_MS in server.ts).
   */
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().nonnegative().default(1_500),
  /** How long /health reuses a dependency probe's answer (see HealthReporterOptions); 0: probe on every call. */
  HEALTH_PROBE_MAX_AGE_MS: z.coerce.number().int().nonnegative().default(1_000),
  BREAKER_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  BREAKER_RESET_MS: z.coerce.number().int().positive().default(5_000),
  BREAKER_ERROR_THRESHOLD_PERCENT: z.coerce.number().min(1).max(100).default(50),
  BREAKER_VOLUME_THRESHOLD: z.coerce.number().int().min(1).default(5),
});

export const kafkaConfigSchema = z.object({
  KAFKA_BROKERS: z
    .string()
    .min(1, 'a comma-separated list of host:port')
    .transform((value) => value.split(',').map((broker) => broker.trim()).filter(Boolean)),
  /** Prepended to every topic and consumer group name; isolates stacks and tests sharing one broker. */
  KAFKA_TOPIC_PREFIX: z.string().default(''),
  /**
   * How long a produce may take before it fails (and the request answers 503). Kept below the
   * gateway's upstream timeout, so a client is told "refused", never "no answer in time".
   */
  KAFKA_SEND_TIMEOUT_MS: z.coerce.number().int().positive().default(2_500),
  /**
   * A fetch waits for this many bytes or CONSUMER_MAX_WAIT_MS, whichever comes first: under load
   * a consumer takes records in batches (one fetch and one transaction per batch, not per
   * record); when it is quiet, a record waits at most CONSUMER_MAX_WAIT_MS.
   */
  CONSUMER_MIN_BYTES: z.coerce.number().int().positive().default(65_536),
  CONSUMER_MAX_WAIT_MS: z.coerce.number().int().positive().default(200),
  /**
   * Processed offsets are committed this often, and when the consumer stops or its partitions
   * are taken away (0: after every batch). Whatever a crash leaves uncommitted comes again, and
   * handlers apply each event once.
   */
  CONSUMER_COMMIT_INTERVAL_MS: z.coerce.number().int().min(0).default(1_000),
  /** A consumed partition with records that has not moved for this long makes /health warn. */
  CONSUMER_STALL_AFTER_MS: z.coerce.number().int().positive().default(30_000),
  /** Tries of a record whose handler throws for no known reason, before it is dead-lettered. */
  CONSUMER_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(3),
  /** Back-off between tries of a consumer's handler: first wait, then doubling up to the max. */
  CONSUMER_RETRY_BASE_MS: z.coerce.number().int().positive().default(250),
  CONSUMER_RETRY_MAX_MS: z.coerce.number().int().positive().default(10_000),
});

export const postgresConfigSchema = z.object({
  DATABASE_URL: z.string().url('a postgres:// connection URL'),
  DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'lowercase letters, digits and underscores'),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(10),
  /**
   * How long a consumer remembers the event ids it applied (processed_events). Default: the
   * longest retention of the topics it consumes plus IDEMPOTENCY_MARGIN_MS, as long as Kafka
   * can deliver a record again.
   */
  IDEMPOTENCY_RETENTION_MS: z.coerce.number().int().positive().optional(),
  IDEMPOTENCY_MARGIN_MS: z.coerce.number().int().min(0).default(86_400_000),
  /**
   * How long the outbox relay waits after a commit's notification for others before it
   * publishes: rows committed close together leave in one Kafka request. 0: at once.
   */
  OUTBOX_LINGER_MS: z.coerce.number().int().min(0).default(20),
});

/**
 * Validates `env` against `schema`. Unknown variables are ignored; every missing or
 * malformed one is reported with its name, so a bad deployment fails at start with a
 * message that says what to fix.
 */
export function loadConfig<Schema extends z.ZodType>(
  service: string,
  schema: Schema,
  env: Record<string, string | undefined> = process.env,
): z.infer<Schema> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const key = issue.path.join('.') || '(environment)';
    const received = env[String(issue.path[0])];
    return received === undefined ? `${key}: is required (${issue.message})` : `${key}: ${issue.message}`;
  });
  throw new ConfigError(service, problems);
}
