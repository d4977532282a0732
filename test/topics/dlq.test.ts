/**
 * Recovery without deleting data, against the real broker and PostgreSQL, through the built
 * binary: `topics dlq` lists what a consumer on the kit set aside and why; `topics dlq replay`
 * sends it back after a fix and the consumer applies it once, however often it is replayed;
 * `topics groups reset-offsets` plans first, refuses a group with members, and moves an
 * inactive group's offsets as kafka-consumer-groups does.
 */
import type { Admin, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { z } from 'zod';
import {
  baseConfigSchema,
  claimEvents,
  createCloudEvent,
  kafkaConfigSchema,
  postgresConfigSchema,
  requireDb,
  startService,
  type RunningService,
  type ServiceDefinition,
} from '@msctl/kit';
import { eventually, kafkaClients, testEnv, type KafkaClients } from '@msctl/kit/testing';
import { targetOffset } from '../../src/topics/offsets';
import { msctl } from '../support/cli';

const bootstrap = inject('kafkaBootstrap');
const configSchema = baseConfigSchema.extend({ ...kafkaConfigSchema.shape, ...postgresConfigSchema.shape });
type Config = z.infer<typeof configSchema>;

/** The consumer's bug: it throws on events with data.bug until the test "deploys the fix". */
const deployed = { fixed: false };

const definition: ServiceDefinition<Config> = {
  name: 'replay-test',
  config: configSchema,
  postgres: { migrations: [{ id: '001_counts', sql: 'CREATE TABLE counts (type text PRIMARY KEY, n bigint NOT NULL)' }] },
  kafka: { topics: ['orders'] },
  setup(context) {
    const db = requireDb(context);
    context.consume({
      group: 'replay-test',
      topics: ['orders'],
      deadLetter: true,
      handleBatch: async (records) => {
        const events = records.flatMap((r) => (r.event ? [r.event] : []));
        for (const event of events) {
          if ((event.data as { bug?: boolean }).bug && !deployed.fixed) throw new TypeError(`cannot price order ${event.subject}`);
        }
        await db.transaction(async (tx) => {
          const fresh = await claimEvents(tx, 'replay-test', events.map((e) => e.id));
          for (const event of events.filter((e) => fresh.has(e.id))) {
            await tx.query('INSERT INTO counts (type, n) VALUES ($1, 1) ON CONFLICT (type) DO UPDATE SET n = counts.n + 1', [event.type]);
          }
        });
      },
    });
  },
};

let env: Record<string, string>;
let running: RunningService<Config> | undefined;
let clients: KafkaClients | undefined;
let producer: Producer;
let admin: Admin;
let topic: string;
let dlqTopic: string;
let group: string;

const topicsCli = (args: string[]) => msctl(['topics', ...args, '--brokers', bootstrap]);
const json = <T>(stdout: unknown): T => JSON.parse(String(stdout)) as T;

async function counts(): Promise<Record<string, number>> {
  const { rows } = await requireDb(running!.context).query<{ type: string; n: string }>('SELECT type, n FROM counts');
  return Object.fromEntries(rows.map((r) => [r.type, Number(r.n)]));
}

const committed = async () =>
  (await admin.fetchOffsets({ groupId: group, topics: [topic] }))[0]!.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })).sort((a, b) => a.partition - b.partition);

const caughtUp = async () => {
  const [offsets, ends] = await Promise.all([committed(), admin.fetchTopicOffsets(topic)]);
  return ends.every((end) => Number(end.high) === 0 || offsets.find((o) => o.partition === end.partition)?.offset === Number(end.high)) ? true : undefined;
};

interface ListedDeadLetter {
  deadLetter: { topic: string; partition: number; offset: number };
  source: { topic: string; partition: number; offset: number };
  group: string;
  class: string;
  reason: string;
  attempts: number;
  key: string | null;
  value: unknown;
}

beforeAll(async () => {
  env = testEnv('replay-test', { extra: { CONSUMER_MAX_ATTEMPTS: '2', CONSUMER_RETRY_BASE_MS: '50', KAFKA_PARTITIONS: '2' } });
  running = await startService(definition, { env });
  await running.consumersReady;
  topic = running.context.topic('orders');
  dlqTopic = `${topic}.dlq`;
  group = running.context.topic('replay-test');
  clients = await kafkaClients('dlq-cli-test');
  ({ producer, admin } = clients);
});

afterAll(async () => {
  await clients?.close();
  await running?.close();
});

describe('msctl topics dlq', () => {
  const good = Array.from({ length: 5 }, (_, i) => createCloudEvent({ type: 'order.placed', source: '/t', subject: `o-${i}`, data: { i } }));
  const buggy = [1, 2].map((i) => createCloudEvent({ type: 'order.priced', source: '/t', subject: `b-${i}`, data: { bug: true } }));

  it('lists what the consumer set aside, with origin, group, class and reason, by dead-letter or by source topic', async () => {
    await producer.send({
      topic,
      acks: -1,
      messages: [...good, ...buggy]
        .map((e) => ({ key: e.subject!, value: JSON.stringify(e) }))
        .concat([
          { key: 'junk', value: 'not json' },
          // Its dead letter makes the JSON document far larger than a pipe's buffer.
          { key: 'big-junk', value: `not json ${'z'.repeat(300_000)}` },
        ]),
    });
    await eventually(async () => ((await counts())['order.placed'] === 5 ? true : undefined), 60_000, 'the good events');
    await eventually(caughtUp, 60_000, 'the group past every record');

    const listed = await topicsCli(['dlq', dlqTopic, '--json']);
    expect(listed.exitCode, String(listed.stderr)).toBe(0);
    const letters = json<{ topics: string[]; deadLetters: ListedDeadLetter[] }>(listed.stdout).deadLetters;
    expect(letters.map((l) => [l.key, l.class, l.group, l.source.topic]).sort()).toEqual(
      [
        ['b-1', 'handler', group, topic],
        ['b-2', 'handler', group, topic],
        ['junk', 'invalid-event', group, topic],
        ['big-junk', 'invalid-event', group, topic],
      ].sort(),
    );
    // The whole document reached the pipe before msctl exited.
    expect((letters.find((l) => l.key === 'big-junk')!.value as string).length).toBe(300_009);
    for (const letter of letters.filter((l) => l.class === 'handler')) {
      expect(letter.reason).toMatch(/^cannot price order b-\d$/);
      expect(letter.attempts).toBe(2);
      expect(letter.value).toMatchObject({ type: 'order.priced', data: { bug: true } });
    }
    expect(letters.find((l) => l.key === 'junk')!.value).toBe('not json');

    const bySource = await topicsCli(['dlq', topic, '--class', 'handler', '--json']);
    expect(json<{ deadLetters: ListedDeadLetter[] }>(bySource.stdout).deadLetters.map((l) => l.key).sort()).toEqual(['b-1', 'b-2']);
    expect(json<{ deadLetters: ListedDeadLetter[] }>((await topicsCli(['dlq', topic, '--class', 'invalid-event', '--grep', '^not json z', '--json'])).stdout).deadLetters.map((l) => l.key)).toEqual(['big-junk']);

    const table = await topicsCli(['dlq']);
    expect(table.exitCode).toBe(0);
    expect(String(table.stdout)).toMatch(new RegExp(`${topic.replaceAll('.', '\\.')}\\[\\d\\]@\\d+ +${group} +handler .+cannot price order b-1`));
    expect(String(table.stdout)).toMatch(/replay once fixed: msctl topics dlq replay/);
  });

  it('replays chosen dead letters after the fix: each is applied once, and a second replay counts nothing twice', async () => {
    const endsBefore = await admin.fetchTopicOffsets(topic);
    const dry = await topicsCli(['dlq', 'replay', dlqTopic, '--type', 'order.priced', '--dry-run', '--json']);
    expect(dry.exitCode, String(dry.stderr)).toBe(0);
    expect(json<{ dryRun: boolean; replay: ListedDeadLetter[] }>(dry.stdout).replay.map((l) => l.key).sort()).toEqual(['b-1', 'b-2']);
    expect(await admin.fetchTopicOffsets(topic)).toEqual(endsBefore);

    deployed.fixed = true;
    const replayed = await topicsCli(['dlq', 'replay', dlqTopic, '--type', 'order.priced']);
    expect(replayed.exitCode, String(replayed.stderr)).toBe(0);
    expect(String(replayed.stdout)).toMatch(/replayed 2 records/);
    await eventually(async () => ((await counts())['order.priced'] === 2 ? true : undefined), 60_000, 'the replayed events applied');

    // The replayed records are the originals: same value and key, original headers without the dlq.* ones.
    const tail = await msctl(['topics', 'tail', topic, '--from', 'beginning', '--exit', '--type', 'order.priced', '--json', '--brokers', bootstrap]);
    const copies = String(tail.stdout).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { key: string; headers: Record<string, string>; value: { id: string } });
    const replayedCopies = copies.filter((c) => c.headers['dlq.replayed.from']);
    expect(replayedCopies.map((c) => c.value.id).sort()).toEqual(buggy.map((e) => e.id).sort());
    for (const copy of replayedCopies) {
      expect(Object.keys(copy.headers).filter((name) => name.startsWith('dlq.') && name !== 'dlq.replayed.from')).toEqual([]);
      expect(copy.headers['dlq.replayed.from']).toMatch(new RegExp(`^${dlqTopic.replaceAll('.', '\\.')}:\\d+:\\d+$`));
    }

    const again = await topicsCli(['dlq', 'replay', dlqTopic, '--type', 'order.priced']);
    expect(again.exitCode).toBe(0);
    const ends = await admin.fetchTopicOffsets(topic);
    expect(ends.reduce((sum, p) => sum + Number(p.high), 0)).toBe(endsBefore.reduce((sum, p) => sum + Number(p.high), 0) + 4);
    await eventually(caughtUp, 60_000, 'the group past the second replay');
    expect(await counts()).toEqual({ 'order.placed': 5, 'order.priced': 2 });
  });

  it('says which topics exist when the topic is unknown', async () => {
    const result = await topicsCli(['dlq', `${topic}x`]);
    expect(result.exitCode).toBe(1);
    expect(String(result.stderr)).toMatch(/does not exist/);
    expect(String(result.stderr)).toMatch(new RegExp(`dead-letter topics: .*${dlqTopic.replaceAll('.', '\\.')}`));
  });
});

describe('msctl topics groups reset-offsets', () => {
  it('shows a plan and changes nothing by default, and refuses --execute while the group has members', async () => {
    await eventually(caughtUp, 60_000, 'the group caught up');
    const before = await committed();
    const dry = await topicsCli(['groups', 'reset-offsets', group, '--topic', topic, '--to-earliest']);
    expect(dry.exitCode, String(dry.stderr)).toBe(0);
    expect(String(dry.stdout)).toMatch(/dry run: nothing changed/);
    expect(String(dry.stdout)).toMatch(/--execute is refused until they stop/);
    const refused = await topicsCli(['groups', 'reset-offsets', group, '--topic', topic, '--to-earliest', '--execute']);
    expect(refused.exitCode).toBe(1);
    expect(String(refused.stderr)).toMatch(/can only be reset while it is inactive, but it has 1 member/);
    expect(await committed()).toEqual(before);
  });

  it('moves an inactive group as kafka-consumer-groups does; the restarted consumer re-reads and counts nothing twice', async () => {
    await running!.close();
    running = undefined;
    const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));

    const toOffset = await topicsCli(['groups', 'reset-offsets', group, '--topic', `${topic}:0`, '--to-offset', '1', '--execute', '--json']);
    expect(toOffset.exitCode, String(toOffset.stderr)).toBe(0);
    expect(json<{ executed: boolean; partitions: Array<{ partition: number; target: number }> }>(toOffset.stdout)).toMatchObject({ executed: true, partitions: [{ partition: 0, target: 1 }] });
    expect((await committed()).find((p) => p.partition === 0)!.offset).toBe(1);

    const shifted = await topicsCli(['groups', 'reset-offsets', group, '--topic', `${topic}:0`, '--shift-by', '-5', '--execute']);
    expect(shifted.exitCode, String(shifted.stderr)).toBe(0);
    expect((await committed()).find((p) => p.partition === 0)!.offset).toBe(0);

    const future = await topicsCli(['groups', 'reset-offsets', group, '--all-topics', '--to-datetime', '2999-01-01T00:00:00Z', '--execute']);
    expect(future.exitCode, String(future.stderr)).toBe(0);
    expect(await committed()).toEqual([...ends].map(([partition, offset]) => ({ partition, offset })).sort((a, b) => a.partition - b.partition));

    const earliest = await topicsCli(['groups', 'reset-offsets', group, '--all-topics', '--to-earliest', '--execute']);
    expect(earliest.exitCode).toBe(0);
    expect((await committed()).every((p) => p.offset === 0)).toBe(true);

    // Started again, the consumer reads every record once more; the ids it applied are refused.
    running = await startService(definition, { env });
    await running.consumersReady;
    await eventually(caughtUp, 60_000, 'the group back at the end');
    expect(await counts()).toEqual({ 'order.placed': 5, 'order.priced': 2 });
  });

  it('refuses bad input with a usage error', async () => {
    const none = await topicsCli(['groups', 'reset-offsets', group, '--topic', topic]);
    expect(none.exitCode).toBe(2);
    expect(String(none.stderr)).toMatch(/needs where to/);
    const two = await topicsCli(['groups', 'reset-offsets', group, '--topic', topic, '--to-earliest', '--to-latest']);
    expect(two.exitCode).toBe(2);
    const unknown = await topicsCli(['groups', 'reset-offsets', `${group}-typo`, '--topic', topic, '--to-earliest']);
    expect(unknown.exitCode).toBe(1);
    expect(String(unknown.stderr)).toMatch(/does not exist/);
  });
});

describe('targetOffset', () => {
  const p = { topic: 't', partition: 0, current: 40, low: 10, high: 100 };
  it('follows kafka-consumer-groups: targets outside the log move to its nearest end', () => {
    expect(targetOffset({ kind: 'earliest' }, p)).toBe(10);
    expect(targetOffset({ kind: 'latest' }, p)).toBe(100);
    expect(targetOffset({ kind: 'offset', offset: 5 }, p)).toBe(10);
    expect(targetOffset({ kind: 'offset', offset: 500 }, p)).toBe(100);
    expect(targetOffset({ kind: 'shift', by: -50 }, p)).toBe(10);
    expect(targetOffset({ kind: 'shift', by: 7 }, p)).toBe(47);
    expect(targetOffset({ kind: 'datetime', timestamp: 0 }, { ...p, atTime: 55 })).toBe(55);
    expect(targetOffset({ kind: 'datetime', timestamp: 0 }, p)).toBe(100);
  });

  it('cannot shift a partition without a committed offset', () => {
    expect(() => targetOffset({ kind: 'shift', by: 1 }, { ...p, current: null })).toThrow(/no committed offset/);
  });
});
