/**
 * Helpers for services' integration tests: the environment that points a service at the
 * test run's real Kafka broker and PostgreSQL, isolated by a unique topic prefix and schema.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import pino from 'pino';
import { inject } from 'vitest';
import { ASSERTION_HEADER, AssertionSigner } from '../auth';
import { setTimeout as sleep } from 'node:timers/promises';

export function uniqueSuffix(): string {
  return randomBytes(4).toString('hex');
}

export interface TestEnvOptions {
  /** Shared by services that must see each other's topics in one test. */
  topicPrefix?: string;
  schema?: string;
  extra?: Record<string, string>;
}

export const TEST_JWT_SECRET = randomBytes(32).toString('hex');

/** The test run's stand-in for the gateway's assertion key pair. */
export const TEST_INTERNAL_KEYS = generateKeyPairSync('ed25519', {
  privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
  publicKeyEncoding: { format: 'pem', type: 'spki' },
});

const testSigner = new AssertionSigner(TEST_INTERNAL_KEYS.privateKey);

/**
 * The headers the gateway would add for `caller` calling `service`: a service under test answers
 * only requests that carry them. No subject means a public route (sign-up, log-in).
 */
export async function asCaller(
  service: string,
  caller: { subject?: string; username?: string; scope?: string; clientIp?: string } = {},
): Promise<Record<string, string>> {
  const token = await testSigner.sign(service, {
    subject: caller.subject ?? null,
    username: caller.username ?? null,
    scope: caller.scope ?? '',
    clientIp: caller.clientIp ?? '127.0.0.1',
  });
  return { [ASSERTION_HEADER]: token };
}

export function testEnv(service: string, options: TestEnvOptions = {}): Record<string, string> {
  const suffix = uniqueSuffix();
  return {
    SERVICE_NAME: service,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    KAFKA_BROKERS: inject('kafkaBootstrap'),
    KAFKA_TOPIC_PREFIX: options.topicPrefix ?? `t${suffix}.`,
    DATABASE_URL: inject('postgresUrl'),
    DATABASE_SCHEMA: options.schema ?? `${service.replaceAll('-', '_')}_${suffix}`,
    JWT_SECRET: TEST_JWT_SECRET,
    INTERNAL_AUTH_PUBLIC_KEY: TEST_INTERNAL_KEYS.publicKey,
    INTERNAL_AUTH_PRIVATE_KEY: TEST_INTERNAL_KEYS.privateKey,
    BREAKER_RESET_MS: '1000',
    ...options.extra,
  };
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 20_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await sleep(100);
  }
}

/** A pino logger at `level` whose JSON lines a test can read back from `lines`. */
export function capturingLogger(level = 'warn'): { logger: pino.Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino(
    { level },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    }),
  );
  return { logger, lines };
}

export interface KafkaClients {
  kafka: Kafka;
  producer: Producer;
  admin: Admin;
  /** Disconnects the producer and the admin. */
  close(): Promise<void>;
}

/** A connected kafkajs producer and admin on the run's broker, for a test to produce and look with. */
export async function kafkaClients(clientId: string): Promise<KafkaClients> {
  const kafka = new Kafka({ clientId, brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  return {
    kafka,
    producer,
    admin,
    close: async () => {
      await Promise.allSettled([producer.disconnect(), admin.disconnect()]);
    },
  };
}
