/**
 * `msctl topics` against the run's real broker, through the built binary, checked with real
 * clients: kcat produces what msctl tails and reads what msctl produces; a kafkajs consumer
 * leaves the lag that `groups` shows. Every test uses topics of its own.
 */
import { execa } from 'execa';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { join } from 'node:path';
import { msctl, repoRoot } from '../support/cli';
import { uniqueName } from '../support/infra-env';
import { sleep } from '../../src/core/sleep';

const bootstrap = inject('kafkaBootstrap');
const kafka = new Kafka({ clientId: 'topics-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
let admin: Admin;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
});
afterAll(async () => {
  await admin.disconnect();
});

async function createTopic(prefix: string, partitions = 3): Promise<string> {
  const topic = uniqueName(prefix);
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  return topic;
}

const topics = (args: string[], options: Parameters<typeof msctl>[1] = {}) => msctl(['topics', ...args, '--brokers', bootstrap], options);

interface JsonRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  headers: Record<string, unknown>;
  value: unknown;
  valueEncoding?: string;
}
const jsonLines = <T = JsonRecord>(stdout: unknown): T[] =>
  String(stdout)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);

const groupIds = async () => new Set((await admin.listGroups()).groups.map((g) => g.groupId));

describe('msctl topics (real broker)', () => {
  it('tails exactly what kcat produced: keys, headers, offsets', async () => {
    const topic = await createTopic('tail_kcat');
    const n = 30;
    const input = Array.from({ length: n }, (_, i) => `key-${i % 7}:${JSON.stringify({ i, text: `message ${i}` })}`).join('\n');
    const produced = await execa('kcat', ['-P', '-b', bootstrap, '-t', topic, '-K:', '-H', 'trace=t-1', '-H', 'source=kcat'], { input });
    expect(produced.exitCode).toBe(0);
    // What kcat itself sees: partition and offset per value
    const kcatRead = await execa('kcat', ['-C', '-e', '-q', '-b', bootstrap, '-t', topic, '-f', '%p %o %k %s\n']);
    const expected = kcatRead.stdout.split('\n').filter(Boolean).map((line) => {
      const [p, o, k, ...rest] = line.split(' ');
      return { partition: Number(p), offset: Number(o), key: k, value: JSON.parse(rest.join(' ')) };
    });
    expect(expected).toHaveLength(n);

    const before = await groupIds();
    const result = await topics(['tail', topic, '--from', 'beginning', '--exit', '--json']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const records = jsonLines(result.stdout);
    expect(records).toHaveLength(n);
    const sort = <T extends { partition: number; offset: number }>(list: T[]) => [...list].sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    expect(sort(records).map((r) => ({ partition: r.partition, offset: r.offset, key: r.key, value: r.value }))).toEqual(sort(expected));
    for (const r of records) {
      expect(r.topic).toBe(topic);
      expect(r.headers).toEqual({ trace: 't-1', source: 'kcat' });
      expect(r.timestamp).toBeGreaterThan(0);
    }
    // no consumer group was created
    expect([...(await groupIds())].filter((g) => !before.has(g))).toEqual([]);
  });

  it('produces values kcat reads: arguments, stdin lines, keys, headers, CloudEvents', async () => {
    const topic = await createTopic('produce');
    const n = 2_500;
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify({ i }));
    const fromStdin = await topics(['produce', topic, '--json'], { input: `${lines.join('\n')}\n` });
    expect(fromStdin.exitCode, String(fromStdin.stderr)).toBe(0);
    const acks = jsonLines<{ topic: string; partition: number; offset: number }>(fromStdin.stdout);
    expect(acks).toHaveLength(n);

    const keyed = await topics(['produce', topic, '-k', 'user-1', '-H', 'h1=v1', '--cloudevent', 'user.created', '{"userId":"user-1"}', '{"userId":"user-1","n":2}']);
    expect(keyed.exitCode, String(keyed.stderr)).toBe(0);
    expect(String(keyed.stdout)).toMatch(/^partition \d+ offset \d+ key user-1\npartition \d+ offset \d+ key user-1$/);

    const read = await execa('kcat', ['-C', '-e', '-q', '-J', '-b', bootstrap, '-t', topic]);
    const messages = read.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { partition: number; offset: number; key: string | null; payload: string; headers?: string[] });
    expect(messages).toHaveLength(n + 2);
    // every acknowledged (partition, offset) holds the value sent on that line
    const at = new Map(messages.map((m) => [`${m.partition}/${m.offset}`, m]));
    acks.forEach((ack, i) => expect(at.get(`${ack.partition}/${ack.offset}`)?.payload).toBe(lines[i]));
    const events = messages.filter((m) => m.key === 'user-1');
    expect(events).toHaveLength(2);
    expect(new Set(events.map((m) => m.partition)).size).toBe(1);
    for (const m of events) {
      const event = JSON.parse(m.payload) as Record<string, unknown>;
      expect(event).toMatchObject({ specversion: '1.0', source: '/msctl', type: 'user.created', subject: 'user-1', data: { userId: 'user-1' } });
      expect(event.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(event.time as string)).toBeGreaterThan(0);
      expect(m.headers).toEqual(['h1', 'v1', 'content-type', 'application/cloudevents+json']);
    }
  });

  it('filters select exactly: --key, --type, --where, --grep, --max, -p, --from <time>', async () => {
    const topic = await createTopic('filters', 2);
    const producer = kafka.producer();
    await producer.connect();
    const day1 = Date.parse('2024-03-01T00:00:00Z');
    const day2 = Date.parse('2024-03-02T00:00:00Z');
    const event = (type: string, userId: string, i: number) => JSON.stringify({ specversion: '1.0', id: `e${i}`, source: '/t', type, subject: userId, data: { userId, i } });
    const messages = Array.from({ length: 40 }, (_, i) => ({
      key: `u${i % 4}`,
      value: i % 10 === 9 ? `plain line ${i}` : event(i % 2 === 0 ? 'order.placed' : 'order.shipped', `u${i % 4}`, i),
      timestamp: String(i < 20 ? day1 + i : day2 + i),
    }));
    await producer.send({ topic, acks: -1, messages });
    await producer.send({ topic, messages: [{ key: 'bin', value: Buffer.from([0xff, 0x00, 0xfe]), partition: 0 }] });
    await producer.disconnect();
    const values = (stdout: unknown) => jsonLines(stdout).map((r) => r.value as { data?: { i: number } } | string);
    /** The event numbers, then the plain lines, each sorted. */
    const indexes = (stdout: unknown) => {
      const all = values(stdout).map((v) => (typeof v === 'object' && v.data ? v.data.i : v));
      return [...all.filter((v) => typeof v === 'number').sort((a, b) => Number(a) - Number(b)), ...all.filter((v) => typeof v === 'string').sort()];
    };
    const tail = (...args: string[]) => topics(['tail', topic, '--from', 'beginning', '--exit', '--json', ...args]);

    const byKey = await tail('--key', 'u1');
    expect(byKey.exitCode, String(byKey.stderr)).toBe(0);
    expect(indexes(byKey.stdout)).toEqual([1, 5, 13, 17, 21, 25, 33, 37, 'plain line 29', 'plain line 9']);
    expect(indexes((await tail('--type', 'order.placed', '--where', 'data.userId=u2')).stdout)).toEqual([2, 6, 10, 14, 18, 22, 26, 30, 34, 38]);
    expect(indexes((await tail('--grep', '^plain line [13]9$')).stdout)).toEqual(['plain line 19', 'plain line 39']);
    expect(indexes((await tail('--where', 'data.i=7')).stdout)).toEqual([7]);
    expect(jsonLines((await tail('--type', 'order.shipped', '--max', '3')).stdout)).toHaveLength(3);

    // --from <time>: exactly the second day's 20 messages
    const fromTime = await topics(['tail', topic, '--from', '2024-03-01T12:00:00Z', '--exit', '--json']);
    const fromRecords = jsonLines(fromTime.stdout).filter((r) => r.key !== 'bin');
    expect(fromRecords.map((r) => r.timestamp).sort()).toEqual(messages.slice(20).map((m) => Number(m.timestamp)).sort());

    // a binary value never crashes: base64 in json, marked in pretty and raw
    const binary = jsonLines((await tail('--key', 'bin')).stdout);
    expect(binary).toEqual([expect.objectContaining({ partition: 0, value: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), valueEncoding: 'base64' })]);
    const pretty = await topics(['tail', topic, '--from', 'beginning', '--exit', '-p', '0']);
    expect(pretty.exitCode, String(pretty.stderr)).toBe(0);
    expect(String(pretty.stdout)).toContain('(binary, 3 bytes, base64) /wD+');
    expect(String(pretty.stdout)).toContain('order.placed');
    expect(String(pretty.stdout)).not.toContain(`${topic}[1]`);
  });

  it('groups shows the lag a consumer leaves; list and describe show the topic', async () => {
    const topic = await createTopic('lag', 2);
    const groupId = uniqueName('lag_group');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 10 }, (_, i) => ({ value: `m${i}`, partition: i % 2 })) });
    await producer.disconnect();
    // A real consumer reads everything but commits only partition 0 up to 2 and partition 1 up to 5.
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    let seen = 0;
    const allSeen = new Promise<void>((resolve) => {
      void consumer.run({
        autoCommit: false,
        eachMessage: async () => {
          if (++seen === 10) resolve();
        },
      });
    });
    await allSeen;
    await consumer.commitOffsets([
      { topic, partition: 0, offset: '2' },
      { topic, partition: 1, offset: '5' },
    ]);
    const live = JSON.parse(String((await topics(['groups', groupId, '--json'])).stdout)) as { state: string; members: Array<{ assignment: Record<string, number[]> }>; partitions: Array<{ member: string | null }> };
    expect(live.state).toBe('Stable');
    expect(live.members).toHaveLength(1);
    expect(live.members[0]!.assignment).toEqual({ [topic]: [0, 1] });
    expect(live.partitions.every((p) => p.member === 'topics-test')).toBe(true);
    await consumer.disconnect();

    const one = await topics(['groups', groupId, '--json']);
    expect(one.exitCode, String(one.stderr)).toBe(0);
    const detail = JSON.parse(String(one.stdout)) as { groupId: string; state: string; totalLag: number; partitions: Array<{ topic: string; partition: number; committed: number; end: number; lag: number }> };
    expect(detail.totalLag).toBe(3);
    expect(detail.partitions.map(({ topic: t, partition, committed, end, lag }) => ({ t, partition, committed, end, lag }))).toEqual([
      { t: topic, partition: 0, committed: 2, end: 5, lag: 3 },
      { t: topic, partition: 1, committed: 5, end: 5, lag: 0 },
    ]);
    const text = await topics(['groups', groupId]);
    expect(String(text.stdout)).toContain('total lag 3');
    const all = JSON.parse(String((await topics(['groups', '--json'])).stdout)) as { groups: Array<{ groupId: string; totalLag: number }> };
    expect(all.groups.find((g) => g.groupId === groupId)?.totalLag).toBe(3);

    const list = JSON.parse(String((await topics(['list', '--json'])).stdout)) as { topics: Array<{ name: string; partitions: number; messages: number }> };
    expect(list.topics.find((t) => t.name === topic)).toMatchObject({ partitions: 2, messages: 10 });
    expect(list.topics.some((t) => t.name.startsWith('__'))).toBe(false);
    const describeJson = JSON.parse(String((await topics(['describe', topic, '--json'])).stdout)) as { partitionDetails: Array<{ partition: number; leader: number; start: number; end: number }>; configs: Array<{ name: string }> };
    expect(describeJson.partitionDetails.map((p) => [p.partition, p.start, p.end])).toEqual([[0, 0, 5], [1, 0, 5]]);
    expect(describeJson.configs.map((c) => c.name)).toContain('retention.ms');

    const unknownGroup = await topics(['groups', `${groupId}x`]);
    expect(unknownGroup.exitCode).toBe(1);
    expect(String(unknownGroup.stderr)).toContain(`similar: ${groupId}`);
  });

  it('leaves no consumer group behind when following is interrupted (Ctrl-C → 130)', async () => {
    const topic = await createTopic('sigint', 1);
    const before = await groupIds();
    const child = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'topics', 'tail', topic, '--json', '--brokers', bootstrap], { reject: false, env: { NO_COLOR: '1' } });
    // Wait until it follows from the end, then give it one message to print.
    const producer = kafka.producer();
    await producer.connect();
    let printed = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => void producer.send({ topic, messages: [{ value: 'ping' }] }).catch(reject), 300);
      child.stdout!.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes('\n')) {
          clearInterval(timer);
          resolve();
        }
      });
      void child.then(() => {
        clearInterval(timer);
        reject(new Error('tail ended before printing'));
      });
    });
    await producer.disconnect();
    // Idle connections for a while: kafkajs unpatched re-arms a negative timer on each, and Node warns.
    await sleep(2_000);
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(String(result.stderr)).not.toMatch(/Warning/);
    expect(JSON.parse(printed.split('\n')[0]!)).toMatchObject({ topic, value: 'ping' });
    expect([...(await groupIds())].filter((g) => !before.has(g))).toEqual([]);
  });

  it('says clearly what is wrong: unknown topic, unreachable broker, no broker at all', async () => {
    const topic = await createTopic('known_name', 1);
    const unknown = await topics(['tail', `${topic}s`, '--exit']);
    expect(unknown.exitCode).toBe(1);
    expect(String(unknown.stderr)).toContain(`topic '${topic}s' does not exist`);
    expect(String(unknown.stderr)).toContain(`similar: ${topic}`);

    const down = await msctl(['topics', 'list', '--brokers', '127.0.0.1:1', '--json']);
    expect(down.exitCode).toBe(1);
    expect(JSON.parse(String(down.stdout))).toMatchObject({ error: { code: 'KAFKA_UNREACHABLE' } });

    const nowhere = await msctl(['topics', 'list'], { cwd: '/' });
    expect(nowhere.exitCode).toBe(2);
    expect(String(nowhere.stderr)).toContain('--brokers host:port');

    const noValues = await topics(['produce', topic, '--where', 'x']);
    expect(noValues.exitCode).toBe(2);
  });
});
