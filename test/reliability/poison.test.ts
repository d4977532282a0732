/**
 * Suite: poison records. Each input no consumer can apply is sent through the gateway, which
 * must refuse it (400 or 413, naming the field), and then produced straight into the topic with
 * kcat, as another producer could. There it must end in the dead letters of the consumers that
 * cannot apply it, never as a stall: a hundred good events on the same partition before it and
 * a hundred after it are each counted exactly once by analytics, the consumer groups' lag
 * returns to 0, and /health passes. (A handler that throws on one record every time, and the
 * stall /health shows while it is tried, are in services/kit/test/dead-letters.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { execa } from 'execa';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { stackForThisFile } from '../support/running-stack';

const stack = stackForThisFile();
const suffix = uniqueSuffix();
let token: string;
/** Events keyed by a subject of the test's choosing (so they share the poison's partition) need the ingest scope. */
let ingestToken: string;
let userId: string;

const broker = () => `127.0.0.1:${stack.project().env.MSCTL_KAFKA_PORT}`;

/** Produces one message with kcat, keyed with the Java client's partitioner, as the services' kafkajs does. */
async function kcat(topic: string, key: string, value: string | Buffer): Promise<void> {
  const produced = await execa('kcat', ['-P', '-b', broker(), '-t', topic, '-k', key, '-X', 'topic.partitioner=murmur2_random'], { input: value, reject: false });
  expect(produced.exitCode, String(produced.stderr)).toBe(0);
}

const cloudEvent = (patch: Record<string, unknown>) =>
  JSON.stringify({ specversion: '1.0', id: randomUUID(), source: '/poison-test', type: 'alert.triggered', time: new Date().toISOString(), data: {}, ...patch });

/**
 * Good events keyed (subject) like the poison, so that they share its partition: through the
 * gateway when the poison goes to events.raw or events.processed, or straight into its topic.
 */
async function sendGood(topic: PoisonCase['topic'], type: string, key: string, count: number): Promise<void> {
  const events = Array.from({ length: count }, (_, i) => ({ id: randomUUID(), type, subject: key, data: { i } }));
  if (topic === 'users.events') {
    await kcat(topic, key, events.map((e) => cloudEvent({ ...e, source: '/users' })).join('\n'));
    return;
  }
  const response = await stack.post('/api/events', { events }, ingestToken);
  expect(response.status, await response.clone().text()).toBe(202);
}

async function counted(type: string): Promise<number> {
  const response = await fetch(`${stack.gateway()}/api/analytics/summary`, { headers: { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as { byType: Record<string, number> };
  return body.byType[type] ?? 0;
}

interface PoisonCase {
  name: string;
  /** The body posted through the gateway, and what it must answer. */
  gateway: { body: unknown; status: 400 | 413; field?: RegExp };
  /** Where kcat writes the poison, and its value. */
  topic: 'events.processed' | 'events.raw' | 'users.events';
  value: string | Buffer;
  /** The consumer groups that must dead-letter it (the others apply it). */
  deadLetteredBy: string[];
}

const cases: PoisonCase[] = [
  {
    name: 'nul-in-subject',
    gateway: { body: { events: [{ type: 'alert.triggered', subject: 'a\u0000b', data: {} }] }, status: 400, field: /^subject$/ },
    topic: 'events.processed',
    value: cloudEvent({ subject: 'a\u0000b' }),
    deadLetteredBy: ['analytics', 'notifications'],
  },
  {
    name: 'nul-in-data-value',
    gateway: { body: { type: 'alert.triggered', data: { note: 'x\u0000y' } }, status: 400, field: /^data\.note$/ },
    topic: 'events.processed',
    value: '',
    deadLetteredBy: ['notifications'],
  },
  {
    name: 'nul-in-data-key',
    gateway: { body: { type: 'alert.triggered', data: { 'k\u0000': 1 } }, status: 400, field: /^data\["k\\u0000"\]$/ },
    topic: 'events.processed',
    value: '',
    deadLetteredBy: ['notifications'],
  },
  {
    name: 'unpaired-surrogate',
    gateway: { body: '{"type":"alert.triggered","data":{"s":"\\ud800"}}', status: 400, field: /^data\.s$/ },
    topic: 'events.processed',
    value: '',
    deadLetteredBy: ['analytics', 'notifications'],
  },
  {
    name: 'year-0000',
    gateway: { body: { type: 'alert.triggered', time: '0000-01-01T00:00:00Z', data: {} }, status: 400, field: /^time$/ },
    topic: 'events.processed',
    value: '',
    deadLetteredBy: ['analytics'],
  },
  {
    name: 'year-10000',
    gateway: { body: { type: 'alert.triggered', time: '10000-01-01T00:00:00Z', data: {} }, status: 400, field: /^time$/ },
    topic: 'events.processed',
    value: '',
    deadLetteredBy: ['analytics', 'notifications'],
  },
  {
    name: 'not-json',
    gateway: { body: '{"type":"alert.triggered", nope', status: 400 },
    topic: 'events.processed',
    value: 'not json {',
    deadLetteredBy: ['analytics', 'notifications'],
  },
  {
    name: 'invalid-utf8',
    gateway: { body: Buffer.concat([Buffer.from('{"type":"alert.triggered","data":{"s":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}}')]), status: 400 },
    topic: 'events.processed',
    value: Buffer.from([0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    deadLetteredBy: ['analytics', 'notifications'],
  },
  {
    name: 'not-json-on-events.raw',
    gateway: { body: 'nope', status: 400 },
    topic: 'events.raw',
    value: 'not json {',
    deadLetteredBy: ['data-processing'],
  },
  {
    name: '900-KiB-event',
    gateway: { body: { type: 'page.viewed', data: { blob: 'x'.repeat(900 * 1024) } }, status: 400, field: /^data$/ },
    topic: 'events.raw',
    value: '',
    deadLetteredBy: ['data-processing'],
  },
  {
    name: 'not-json-on-users.events',
    gateway: { body: { type: 'user.created', subject: 'u\u0000', data: {} }, status: 400, field: /^subject$/ },
    topic: 'users.events',
    value: '\u0001\u0002 binary',
    deadLetteredBy: ['analytics', 'notifications'],
  },
];

// Values built from the user id, once it is known; each built once, as it was sent.
const values = new Map<string, string | Buffer>();
function poisonValue(poison: PoisonCase): string | Buffer {
  let value = values.get(poison.name);
  if (value === undefined) {
    value = buildValue(poison);
    values.set(poison.name, value);
  }
  return value;
}

function buildValue(poison: PoisonCase): string | Buffer {
  switch (poison.name) {
    case 'nul-in-data-value':
      return cloudEvent({ subject: userId, data: { title: 'poison', note: 'x\u0000y' } });
    case 'nul-in-data-key':
      return cloudEvent({ subject: userId, data: { 'k\u0000': 1 } });
    case 'unpaired-surrogate':
      return cloudEvent({ subject: userId, data: { s: 'placeholder' } }).replace('placeholder', '\\ud800');
    case 'year-0000':
      return cloudEvent({ subject: userId, time: '0000-01-01T00:00:00Z' });
    case 'year-10000':
      return cloudEvent({ subject: userId, time: '10000-01-01T00:00:00Z' });
    case '900-KiB-event':
      return cloudEvent({ type: 'page.viewed', subject: userId, data: { blob: 'x'.repeat(900 * 1024) } });
    default:
      return poison.value;
  }
}

interface ListedDeadLetter {
  deadLetter: { topic: string };
  source: { topic: string; partition: number; offset: number };
  group: string;
  class: string;
  code: string;
  reason: string;
  key: string | null;
  value: unknown;
  valueEncoding?: string;
}

beforeAll(async () => {
  ({ id: userId, token } = await stack.login(`poison_${suffix}`));
  ingestToken = await stack.clientToken('poison-producer', ['events:ingest']);
});

describe('poison records', () => {
  const sentKeys = new Map<string, string>();

  it.each(cases.map((c) => [c.name, c] as const))('%s: refused at the gateway; produced directly, it is dead-lettered and the records around it are counted once', async (_name, poison) => {
    const raw = typeof poison.gateway.body === 'string' || Buffer.isBuffer(poison.gateway.body);
    const refused = await fetch(`${stack.gateway()}/api/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ingestToken}` },
      body: raw ? (poison.gateway.body as string | Buffer) : JSON.stringify(poison.gateway.body),
    });
    const answer = (await refused.json()) as { details?: { invalid?: Array<{ errors: Array<{ path: string; message: string }> }> } };
    expect(refused.status, JSON.stringify(answer)).toBe(poison.gateway.status);
    if (poison.gateway.field) {
      const paths = (answer.details?.invalid ?? []).flatMap((i) => i.errors.map((e) => e.path));
      expect(paths.some((path) => poison.gateway.field!.test(path)), JSON.stringify(answer)).toBe(true);
    }

    const key = `k-${poison.name}-${suffix}`;
    sentKeys.set(poison.name, key);
    const good = `good.${poison.name.replaceAll(/[^a-z0-9]+/gi, '-').toLowerCase()}.t${suffix}`;
    await sendGood(poison.topic, good, key, 100);
    await eventually(async () => ((await counted(good)) === 100 ? true : undefined), 60_000, `the first 100 of ${good}`);
    await kcat(poison.topic, key, poisonValue(poison));
    await sendGood(poison.topic, good, key, 100);
    // A consumer stuck on the poison would never count these.
    await eventually(async () => ((await counted(good)) === 200 ? true : undefined), 60_000, `all 200 of ${good} (a stuck partition stops here)`);
    expect(await counted(good)).toBe(200);
  });

  it('every poison is in the dead letters of exactly the groups that cannot apply it, byte for byte, on the partition of its key', async () => {
    const admin = new Kafka({ clientId: 'poison-test', brokers: [broker()], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const partitionOf = async (topic: string, key: string) => {
      const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitionMetadata = metadata.topics[0]!.partitions;
      return Partitioners.DefaultPartitioner()({ topic, partitionMetadata, message: { key, value: null } });
    };
    try {
      const letters = await eventually(
        async () => {
          const listed = await stack.run(['topics', 'dlq', '--json']);
          expect(listed.exitCode, String(listed.stderr)).toBe(0);
          const all = (JSON.parse(String(listed.stdout)) as { deadLetters: ListedDeadLetter[] }).deadLetters;
          const complete = cases.every((c) => all.filter((l) => l.key === sentKeys.get(c.name)).length >= c.deadLetteredBy.length);
          return complete ? all : undefined;
        },
        60_000,
        'every dead letter',
      );
      for (const poison of cases) {
        const key = sentKeys.get(poison.name)!;
        const mine = letters.filter((l) => l.key === key);
        expect(mine.map((l) => l.group).sort(), poison.name).toEqual([...poison.deadLetteredBy].sort());
        const sent = poisonValue(poison);
        for (const letter of mine) {
          expect(letter.source.topic, poison.name).toBe(poison.topic);
          expect(letter.source.partition, poison.name).toBe(await partitionOf(poison.topic, key));
          expect(letter.deadLetter.topic, poison.name).toBe(poison.topic === 'events.raw' ? 'events.dlq' : `${poison.topic}.dlq`);
          const bytes = letter.valueEncoding === 'base64' ? Buffer.from(letter.value as string, 'base64') : Buffer.from(typeof letter.value === 'string' ? letter.value : JSON.stringify(letter.value));
          if (typeof letter.value === 'string' || letter.valueEncoding === 'base64') expect(bytes.equals(Buffer.isBuffer(sent) ? sent : Buffer.from(sent)), poison.name).toBe(true);
          else expect(letter.value, poison.name).toEqual(JSON.parse(sent.toString()));
          expect(letter.reason, poison.name).not.toBe('');
        }
      }
      process.stderr.write(
        `[poison] ${cases.map((c) => `${c.name} → ${letters.filter((l) => l.key === sentKeys.get(c.name)).map((l) => `${l.group}:${l.class}${l.code && l.code !== l.class ? `(${l.code})` : ''}`).join(' ')}`).join('; ')}\n`,
      );
    } finally {
      await admin.disconnect();
    }
  });

  it('leaves no lag behind, and /health passes with the dead letters counted', async () => {
    await eventually(
      async () => {
        const groups = await stack.run(['topics', 'groups', '--json']);
        const list = (JSON.parse(String(groups.stdout)) as { groups: Array<{ groupId: string; totalLag: number }> }).groups;
        const ours = list.filter((g) => ['analytics', 'notifications', 'data-processing'].includes(g.groupId));
        return ours.length === 3 && ours.every((g) => g.totalLag === 0) ? true : undefined;
      },
      60_000,
      'lag 0 in every group',
    );
    for (const service of ['analytics', 'notifications', 'data-processing']) {
      const response = await fetch(`http://127.0.0.1:${stack.project().ports[service]}/health`);
      const health = (await response.json()) as { status: string; checks: Record<string, Array<{ status: string; deadLetters5m: number }>> };
      expect(response.status, service).toBe(200);
      expect(health.status, service).toBe('pass');
      const consumer = health.checks[`kafka:consumer:${service}`]![0]!;
      expect(consumer.status).toBe('pass');
      expect(consumer.deadLetters5m, service).toBeGreaterThanOrEqual(cases.filter((c) => c.deadLetteredBy.includes(service)).length);
    }
    const status = await stack.status();
    for (const service of ['analytics', 'notifications', 'data-processing']) {
      expect(status.targets.find((t) => t.name === service), service).toMatchObject({ state: 'healthy', health: 'pass', problems: {} });
    }
  });
});
