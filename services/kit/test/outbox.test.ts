import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { createCloudEvent, parseCloudEvent } from '../src/cloudevents';
import { EventProducer, createKafka, ensureTopics } from '../src/kafka';
import { createLogger } from '../src/logger';
import { ServiceMetrics } from '../src/metrics';
import { OUTBOX_MIGRATION, OutboxRelay, changeWithEvent, enqueueEvent } from '../src/outbox';
import { Database } from '../src/postgres';
import { eventually, uniqueSuffix } from '../src/testing';

const suffix = uniqueSuffix();
const topic = `outbox-test-${suffix}`;
const logger = createLogger('outbox-test', 'silent');
const metrics = new ServiceMetrics('outbox-test');
const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
const kafka = createKafka({ brokers: [inject('kafkaBootstrap')], clientId: 'outbox-test', prefix: '' }, logger);
const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics });
const db = new Database({ url: inject('postgresUrl'), schema: `outbox_${suffix}`, poolSize: 4, circuit: circuits.get('postgres'), logger });

async function readTopic(count: number): Promise<Array<{ key: string | null; id: string; partition: number; offset: number }>> {
  const reader = new Kafka({ brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING }).consumer({ groupId: `reader-${uniqueSuffix()}` });
  const seen: Array<{ key: string | null; id: string; partition: number; offset: number }> = [];
  await reader.connect();
  await reader.subscribe({ topic, fromBeginning: true });
  await reader.run({
    eachMessage: async ({ message, partition }) => {
      seen.push({ key: message.key?.toString() ?? null, id: parseCloudEvent(message.value).id, partition, offset: Number(message.offset) });
    },
  });
  await eventually(async () => (seen.length >= count ? true : undefined), 20_000, `${count} messages in ${topic}`);
  // A duplicate would be in the topic by now: the relays mark a row only after Kafka acknowledged
  // it, and one at a time. So read up to each partition's end as it is once no row waits.
  await eventually(async () => ((await unpublished()) === 0 ? true : undefined), 20_000, 'every outbox row marked published');
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const readToEnd = () => ends.every(({ partition, high }) => Number(high) === 0 || seen.some((m) => m.partition === partition && m.offset === Number(high) - 1));
  await eventually(async () => (readToEnd() ? true : undefined), 20_000, `${topic} read to its end`);
  await reader.disconnect();
  return seen;
}

async function unpublished(): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`);
  return rows[0]!.n;
}

beforeAll(async () => {
  await ensureTopics(kafka, [{ topic, partitions: 3 }]);
  await db.migrate([OUTBOX_MIGRATION]);
});

afterAll(async () => {
  await producer.close();
  await db.close();
  circuits.shutdown();
});

describe('transactional outbox', () => {
  it('keeps no event of a rolled-back transaction', async () => {
    await db
      .transaction(async (tx) => {
        await enqueueEvent(tx, topic, createCloudEvent({ type: 'x.rolled-back', source: '/test', subject: 'nobody', data: {} }));
        throw new Error('business rule failed');
      })
      .catch(() => undefined);
    const { rows } = await db.query(`SELECT count(*)::int AS n FROM outbox`);
    expect(rows[0]!.n).toBe(0);
  });

  it('publishes committed events once each, in commit order per key, and marks them published', async () => {
    const keys = ['a', 'b', 'c', 'd'];
    const expected = new Map<string, string[]>();
    for (let i = 0; i < 40; i++) {
      const key = keys[i % keys.length]!;
      const event = createCloudEvent({ type: 'x.changed', source: '/test', subject: key, data: { i } });
      expected.set(key, [...(expected.get(key) ?? []), event.id]);
      await db.transaction((tx) => enqueueEvent(tx, topic, event));
    }
    const relay = new OutboxRelay({ db, producer, logger, batchSize: 7 });
    // Two relays, as with two replicas: SKIP LOCKED keeps them from publishing a row twice.
    const second = new OutboxRelay({ db, producer, logger, batchSize: 7 });
    await Promise.all([relay.start(), second.start()]);
    try {
      const seen = await readTopic(40);
      expect(seen).toHaveLength(40);
      expect(new Set(seen.map((m) => m.id)).size).toBe(40);
      for (const key of keys) {
        const order = seen.filter((m) => m.key === key).sort((x, y) => x.offset - y.offset).map((m) => m.id);
        expect(order).toEqual(expected.get(key));
      }
      expect(await unpublished()).toBe(0);
    } finally {
      await Promise.all([relay.stop(), second.stop()]);
    }
  });

  it('publishes nothing while another relay holds the outbox lock, and everything once it lets go', async () => {
    const holder = await db.connectDedicated();
    await holder.query('BEGIN');
    const { rows: taken } = await holder.query<{ locked: boolean }>(`SELECT pg_try_advisory_xact_lock(hashtext('msctl-outbox:' || current_schema())) AS locked`);
    expect(taken[0]!.locked).toBe(true);
    const relay = new OutboxRelay({ db, producer, logger, pollIntervalMs: 50 });
    try {
      const before = await unpublished();
      await db.transaction((tx) => enqueueEvent(tx, topic, createCloudEvent({ type: 'x.locked', source: '/test', subject: 'held', data: {} })));
      await relay.start();
      // Rounds every 50 ms while the other relay holds the lock: the row waits, and is not locked by them.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await unpublished()).toBe(before + 1);
      const { rows: free } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT id FROM outbox WHERE published_at IS NULL FOR UPDATE SKIP LOCKED) AS free`);
      expect(free[0]!.n).toBe(before + 1);
      await holder.query('COMMIT');
      await eventually(async () => ((await unpublished()) === 0 ? true : undefined), 10_000, 'the row published once the lock is free');
    } finally {
      await relay.stop();
      await holder.end();
    }
  });

  it('changes a row and writes its event in one statement, waking the relay; no row changed, no event; a failed change, neither', async () => {
    await db.query(`CREATE TABLE IF NOT EXISTS things (id text PRIMARY KEY, name text NOT NULL UNIQUE)`);
    await db.query(`INSERT INTO things VALUES ('t1', 'one') ON CONFLICT DO NOTHING`);
    const listener = await db.connectDedicated();
    const woken: string[] = [];
    listener.on('notification', (n) => woken.push(n.payload ?? ''));
    await listener.query('LISTEN msctl_outbox');
    const before = Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox`)).rows[0]!.n);
    const change = (text: string, values: unknown[]) =>
      changeWithEvent<{ id: string; name: string }>(db, {
        change: { text, values },
        topic,
        event: { type: 'thing.renamed', source: '/things' },
        subjectSql: 'id',
        dataSql: `jsonb_build_object('id', id, 'name', name)`,
      });
    try {
      expect(await change(`UPDATE things SET name = $2 WHERE id = $1 RETURNING id, name`, ['t1', 'uno'])).toEqual([{ id: 't1', name: 'uno' }]);
      expect(await change(`UPDATE things SET name = $2 WHERE id = $1 RETURNING id, name`, ['nobody', 'x'])).toEqual([]);
      await db.query(`INSERT INTO things VALUES ('t2', 'two') ON CONFLICT DO NOTHING`);
      await expect(change(`UPDATE things SET name = $2 WHERE id = $1 RETURNING id, name`, ['t2', 'uno'])).rejects.toMatchObject({ code: '23505' });
      const { rows } = await db.query<{ topic: string; message_key: string; event: Record<string, unknown> }>(
        `SELECT topic, message_key, event FROM outbox ORDER BY id DESC LIMIT 1`,
      );
      expect(Number((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox`)).rows[0]!.n)).toBe(before + 1);
      expect(rows[0]).toMatchObject({ topic, message_key: 't1' });
      const event = parseCloudEvent(Buffer.from(JSON.stringify(rows[0]!.event)));
      expect(event).toMatchObject({ type: 'thing.renamed', source: '/things', subject: 't1', data: { id: 't1', name: 'uno' } });
      await eventually(async () => (woken.includes(topic) ? true : undefined), 5_000, 'a notification for the topic');
    } finally {
      await listener.end();
    }
  });

  it('deletes published rows older than the retention and keeps the newer ones', async () => {
    const { rows } = await db.query<{ id: string; recent: boolean }>(
      `INSERT INTO outbox (topic, event, published_at)
       SELECT $1, '{}'::jsonb, now() - age::interval FROM unnest($2::text[]) AS age
       RETURNING id, published_at > now() - interval '1 hour' AS recent`,
      [topic, ['2 hours', '90 minutes', '1 minute']],
    );
    const recent = rows.filter((row) => row.recent).map((row) => row.id);
    expect(recent).toHaveLength(1);
    const relay = new OutboxRelay({ db, producer, logger, retentionMs: 3_600_000 });
    await relay.start();
    try {
      const left = async () => (await db.query<{ id: string }>(`SELECT id FROM outbox WHERE id = ANY($1::bigint[]) ORDER BY id`, [rows.map((row) => row.id)])).rows.map((row) => row.id);
      await eventually(async () => ((await left()).length < rows.length ? true : undefined), 20_000, 'the retention delete');
      expect(await left()).toEqual(recent);
    } finally {
      await relay.stop();
    }
  });
});
