/**
 * A consumer on the kit, against the real broker and PostgreSQL: one record it cannot apply
 * costs that record (it goes to <topic>.dlq, byte for byte, with its origin and reason), never
 * the partition; the records around it are applied exactly once; /health tells a stall while it
 * lasts; a failure of the world is waited out, not dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import type { Kafka, Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { createCloudEvent } from '../src/cloudevents';
import { baseConfigSchema, kafkaConfigSchema, postgresConfigSchema } from '../src/config';
import { DLQ_HEADERS } from '../src/dead-letter';
import { claimEvents } from '../src/idempotency';
import { requireDb, startService, type RunningService, type ServiceDefinition } from '../src/service';
import { eventually, kafkaClients, testEnv, type KafkaClients } from '../src/testing';

const configSchema = baseConfigSchema.extend({ ...kafkaConfigSchema.shape, ...postgresConfigSchema.shape });
type Config = z.infer<typeof configSchema>;

/** What the test changes in the handler's world while it runs. */
const world = { down: false };

const definition: ServiceDefinition<Config> = {
  name: 'dlq-test',
  config: configSchema,
  postgres: {
    migrations: [{ id: '001_applied', sql: 'CREATE TABLE applied (event_id text PRIMARY KEY, subject text NOT NULL, data jsonb NOT NULL)' }],
  },
  kafka: { topics: ['in'] },
  setup(context) {
    const db = requireDb(context);
    context.consume({
      group: 'dlq-test',
      topics: ['in'],
      deadLetter: true,
      handleBatch: async (records) => {
        if (world.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
        const events = records.flatMap((record) => (record.event ? [record.event] : []));
        for (const event of events) {
          if (event.type === 'test.bug') (undefined as unknown as { title: string }).title.trim();
        }
        await db.transaction(async (tx) => {
          const fresh = await claimEvents(tx, 'dlq-test', events.map((e) => e.id));
          const rows = events.filter((e) => fresh.has(e.id));
          if (rows.length === 0) return;
          await tx.query(
            `INSERT INTO applied (event_id, subject, data) SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])`,
            [rows.map((e) => e.id), rows.map((e) => e.subject ?? ''), rows.map((e) => JSON.stringify(e.data ?? {}))],
          );
        });
      },
    });
  },
};

let running: RunningService<Config>;
let kafka: Kafka;
let clients: KafkaClients | undefined;
let producer: Producer;
let admin: Admin;
let topic: string;
let dlqTopic: string;
let groupId: string;
const dead: Array<{ partition: number; offset: string; key: Buffer | null; value: Buffer | null; headers: Record<string, string> }> = [];

const good = (n: number, subject = 'k') =>
  Array.from({ length: n }, (_, i) => createCloudEvent({ type: 'test.good', source: '/t', subject, data: { i } }));

const send = (messages: Array<{ key: string | Buffer; value: string | Buffer }>) =>
  producer.send({ topic, acks: -1, messages: messages.map((m) => ({ ...m, partition: 0 })) });

const appliedIds = async (): Promise<Set<string>> =>
  new Set((await requireDb(running.context).query<{ event_id: string }>('SELECT event_id FROM applied')).rows.map((r) => r.event_id));

const consumerCheck = async () => {
  const response = await fetch(`${running.url}/health`);
  const body = (await response.json()) as { status: string; checks: Record<string, Array<{ status: string; output?: string; observedValue: number; deadLetters5m: number }>> };
  return { httpStatus: response.status, status: body.status, check: body.checks[`kafka:consumer:${groupId}`]![0]! };
};

/** Committed offsets of the group equal the end offsets of the topic. */
const lagIsZero = async () => {
  const [committed, ends] = await Promise.all([admin.fetchOffsets({ groupId, topics: [topic] }), admin.fetchTopicOffsets(topic)]);
  const byPartition = new Map(committed[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
  return ends.every((end) => Number(end.high) === 0 || byPartition.get(end.partition) === Number(end.high)) ? true : undefined;
};

beforeAll(async () => {
  running = await startService(definition, {
    env: testEnv('dlq-test', {
      extra: { CONSUMER_STALL_AFTER_MS: '500', CONSUMER_MAX_ATTEMPTS: '6', CONSUMER_RETRY_BASE_MS: '300', CONSUMER_RETRY_MAX_MS: '1000', KAFKA_PARTITIONS: '2' },
    }),
  });
  await running.consumersReady;
  topic = running.context.topic('in');
  dlqTopic = `${topic}.dlq`;
  groupId = running.context.topic('dlq-test');
  clients = await kafkaClients('dlq-test');
  ({ kafka, producer, admin } = clients);
  const collector = kafka.consumer({ groupId: `collector-${randomUUID()}` });
  await collector.connect();
  await collector.subscribe({ topics: [dlqTopic], fromBeginning: true });
  await collector.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
      dead.push({ partition, offset: message.offset, key: message.key, value: message.value, headers });
    },
  });
  running.context.onClose(() => collector.disconnect());
});

afterAll(async () => {
  await clients?.close();
  await running?.close();
});

describe('a consumer with dead letters', () => {
  it('sets aside the one record PostgreSQL refuses, byte for byte with its origin, and applies the 300 around it exactly once', async () => {
    const before = good(150);
    const after = good(150);
    const poison = createCloudEvent({ type: 'test.good', source: '/t', subject: 'a\u0000b', data: {} });
    const poisonValue = Buffer.from(JSON.stringify(poison));
    const { 0: sent } = await send([
      ...before.map((e) => ({ key: 'k', value: JSON.stringify(e) })),
      { key: Buffer.from([0x6b, 0x00, 0xfe]), value: poisonValue },
      ...after.map((e) => ({ key: 'k', value: JSON.stringify(e) })),
    ]);
    const poisonOffset = String(Number(sent!.baseOffset) + 150);

    const letter = await eventually(async () => dead.find((d) => d.headers[DLQ_HEADERS.offset] === poisonOffset), 60_000, 'the dead letter');
    expect(letter.value!.equals(poisonValue)).toBe(true);
    expect(letter.key!.equals(Buffer.from([0x6b, 0x00, 0xfe]))).toBe(true);
    expect(letter.headers).toMatchObject({
      [DLQ_HEADERS.topic]: topic,
      [DLQ_HEADERS.partition]: '0',
      [DLQ_HEADERS.group]: groupId,
      [DLQ_HEADERS.errorClass]: 'data',
      [DLQ_HEADERS.errorCode]: '22021',
    });
    expect(letter.headers[DLQ_HEADERS.reason]).toMatch(/invalid byte sequence for encoding "UTF8": 0x00/);

    await eventually(lagIsZero, 60_000, 'the group to commit to the end of the topic');
    const applied = await appliedIds();
    const expected = [...before, ...after].map((e) => e.id);
    expect(expected.filter((id) => !applied.has(id))).toEqual([]);
    expect(applied.has(poison.id)).toBe(false);
    expect(dead.filter((d) => d.headers[DLQ_HEADERS.offset] === poisonOffset)).toHaveLength(1);
  });

  it('sets aside values that are not CloudEvents (not UTF-8, not JSON) without calling the handler', async () => {
    const notUtf8 = Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0xff, 0xfe, 0x7d]);
    const around = good(20);
    const { 0: sent } = await send([
      { key: 'k', value: notUtf8 },
      { key: 'k', value: 'not json at all' },
      ...around.map((e) => ({ key: 'k', value: JSON.stringify(e) })),
    ]);
    const first = Number(sent!.baseOffset);
    const letters = await eventually(
      async () => {
        const found = [first, first + 1].map((offset) => dead.find((d) => d.headers[DLQ_HEADERS.offset] === String(offset)));
        return found.every(Boolean) ? found.map((d) => d!) : undefined;
      },
      60_000,
      'both dead letters',
    );
    expect(letters[0]!.value!.equals(notUtf8)).toBe(true);
    expect(letters[0]!.headers[DLQ_HEADERS.reason]).toBe('value is not valid UTF-8');
    expect(letters[1]!.headers[DLQ_HEADERS.reason]).toBe('value is not JSON');
    for (const letter of letters) expect(letter.headers[DLQ_HEADERS.errorClass]).toBe('invalid-event');
    await eventually(async () => ((await appliedIds()).has(around.at(-1)!.id) ? true : undefined), 60_000, 'the records after them');
  });

  it('tells a stall in /health while a handler throws on one record, then dead-letters it and passes again', async () => {
    const bug = createCloudEvent({ type: 'test.bug', source: '/t', subject: 'k', data: {} });
    const around = good(10);
    const { 0: sent } = await send([{ key: 'k', value: JSON.stringify(bug) }, ...around.map((e) => ({ key: 'k', value: JSON.stringify(e) }))]);
    const stalled = await eventually(async () => {
      const health = await consumerCheck();
      return health.check.status === 'warn' ? health : undefined;
    }, 30_000, 'the stall in /health');
    expect(stalled.status).toBe('warn');
    expect(stalled.httpStatus).toBe(200);
    expect(stalled.check.output).toMatch(new RegExp(`^stalled on ${topic.replaceAll('.', '\\.')}\\[0\\] at offset ${sent!.baseOffset} for \\d+ s: Cannot read properties of undefined`));

    const letter = await eventually(async () => dead.find((d) => d.headers[DLQ_HEADERS.offset] === sent!.baseOffset), 60_000, 'the dead letter');
    expect(letter.headers).toMatchObject({ [DLQ_HEADERS.errorClass]: 'handler', [DLQ_HEADERS.errorCode]: 'TypeError', [DLQ_HEADERS.attempts]: '6' });
    await eventually(async () => ((await appliedIds()).has(around.at(-1)!.id) ? true : undefined), 60_000, 'the records after it');
    const after = await eventually(async () => {
      const health = await consumerCheck();
      return health.check.status === 'pass' ? health : undefined;
    }, 30_000, 'health to pass again');
    expect(after.check.deadLetters5m).toBeGreaterThanOrEqual(1);
    expect((await appliedIds()).has(bug.id)).toBe(false);
  });

  it('waits out a failure of the world on the same records: nothing is dead-lettered, everything is applied once it is over', async () => {
    const deadBefore = dead.length;
    world.down = true;
    const events = good(30, 'outage');
    await send(events.map((e) => ({ key: 'outage', value: JSON.stringify(e) })));
    const stalled = await eventually(async () => {
      const health = await consumerCheck();
      return health.check.status === 'warn' ? health : undefined;
    }, 30_000, 'the stall in /health');
    expect(stalled.check.output).toMatch(/ECONNREFUSED/);
    world.down = false;
    await eventually(async () => {
      const applied = await appliedIds();
      return events.every((e) => applied.has(e.id)) ? true : undefined;
    }, 60_000, 'every event once the world is back');
    await eventually(lagIsZero, 60_000, 'lag 0');
    expect(dead.slice(deadBefore).filter((d) => d.headers[DLQ_HEADERS.topic] === topic && d.key?.toString() === 'outage')).toEqual([]);
  });
});
