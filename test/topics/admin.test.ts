/**
 * `msctl topics create|delete`, `produce -K/-H/--file/--jsonl`, `tail --format kcat` and the
 * tail reader, against the run's real broker through the built binary; kcat is the reference.
 */
import { execa } from 'execa';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { READER_GROUP_PREFIX } from '../../src/infra/kafka/client';
import { msctl, repoRoot } from '../support/cli';
import { uniqueName } from '../support/infra-env';
import { sleep } from '../../src/core/sleep';

const bootstrap = inject('kafkaBootstrap');
const kafka = new Kafka({ clientId: 'topics-admin-test', brokers: [bootstrap], logLevel: logLevel.NOTHING });
let admin: Admin;
let dir: string;

beforeAll(async () => {
  admin = kafka.admin();
  await admin.connect();
  dir = await mkdtemp(join(tmpdir(), 'msctl-topics-admin-'));
});
afterAll(async () => {
  await admin.disconnect();
  await rm(dir, { recursive: true, force: true });
});

const topics = (args: string[], options: Parameters<typeof msctl>[1] = {}) => msctl(['topics', ...args, '--brokers', bootstrap], options);
const lines = <T>(stdout: unknown): T[] =>
  String(stdout)
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as T);
const readerGroups = async () => (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(READER_GROUP_PREFIX));

interface Tailed {
  partition: number;
  offset: number;
  key: string | null;
  headers: Record<string, unknown>;
  value: unknown;
}

async function created(prefix: string, partitions = 2): Promise<string> {
  const topic = uniqueName(prefix);
  const result = await topics(['create', topic, '--partitions', String(partitions)]);
  expect(result.exitCode, String(result.stderr)).toBe(0);
  return topic;
}

describe('msctl topics create / delete (real broker)', () => {
  it('creates a topic with its partitions and configs, visible in describe; a second create is a clear error', async () => {
    const topic = uniqueName('admin_create');
    const result = await topics(['create', topic, '--partitions', '3', '--replication-factor', '1', '--config', 'retention.ms=3600000', '--config', 'cleanup.policy=compact']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const described = await topics(['describe', topic, '--json']);
    expect(described.exitCode).toBe(0);
    const info = JSON.parse(String(described.stdout)) as { partitions: number; replication: number; configs: Array<{ name: string; value: string; isDefault: boolean }> };
    expect(info.partitions).toBe(3);
    expect(info.replication).toBe(1);
    const config = (name: string) => info.configs.find((c) => c.name === name);
    expect(config('retention.ms')).toMatchObject({ value: '3600000', isDefault: false });
    expect(config('cleanup.policy')).toMatchObject({ value: 'compact', isDefault: false });

    const again = await topics(['create', topic, '--partitions', '1', '--json']);
    expect(again.exitCode).toBe(1);
    expect(JSON.parse(String(again.stdout || again.stderr)).error).toMatchObject({ code: 'TOPIC_EXISTS' });
    expect(String(again.stderr)).not.toMatch(/\n\s+at /);
  });

  it('delete on a terminal asks, and deletes only on yes', async () => {
    const topic = await created('admin_delete_tty');
    // script(1) runs msctl on a pseudo-terminal and types our answer into it.
    const onTerminal = (answer: string) =>
      execa('script', ['-qec', [process.execPath, join(repoRoot, 'bin', 'msctl.js'), 'topics', 'delete', topic, '--brokers', bootstrap].join(' '), '/dev/null'], {
        input: `${answer}\n`,
        reject: false,
        env: { NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      });
    const declined = await onTerminal('n');
    expect(String(declined.stdout)).toMatch(new RegExp(`delete ${topic} \\(0 messages\\)\\? .*\\[y/N\\]`));
    expect(declined.exitCode).toBe(1);
    expect(await admin.listTopics()).toContain(topic);
    const accepted = await onTerminal('y');
    expect(accepted.exitCode, String(accepted.stdout)).toBe(0);
    expect(await admin.listTopics()).not.toContain(topic);
  });

  it('refuses a config the broker does not know, without a stack trace', async () => {
    const result = await topics(['create', uniqueName('admin_badconfig'), '--partitions', '1', '--config', 'no.such.config=1']);
    expect(result.exitCode).toBe(2);
    expect(String(result.stderr)).toMatch(/no\.such\.config|INVALID_CONFIG/i);
    expect(String(result.stderr)).not.toMatch(/\n\s+at /);
  });

  it('delete: refused off a terminal without --yes, done with --yes; an unknown topic is a clear error', async () => {
    const topic = await created('admin_delete');
    const refused = await topics(['delete', topic], { input: '' });
    expect(refused.exitCode).toBe(2);
    expect(String(refused.stderr)).toMatch(/--yes/);
    expect(await admin.listTopics()).toContain(topic);

    const deleted = await topics(['delete', topic, '--yes']);
    expect(deleted.exitCode, String(deleted.stderr)).toBe(0);
    expect(String(deleted.stdout)).toContain(topic);
    expect(await admin.listTopics()).not.toContain(topic);

    const missing = await topics(['delete', topic, '--yes']);
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toMatch(/does not exist/);
    expect(String(missing.stderr)).not.toMatch(/\n\s+at /);
  });
});

describe('msctl topics produce -K / -H / --file / --jsonl (real broker)', () => {
  it('-K splits key and value at the first delimiter, -H adds headers; tail reads them back', async () => {
    const topic = await created('produce_keyed');
    const input = 'user-1:{"n":1}\nuser-2:{"n":2,"url":"http://x"}\nno delimiter here\n';
    const result = await topics(['produce', topic, '-K', ':', '-H', 'trace=t-1', '-H', 'source=test'], { input });
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const tailed = await topics(['tail', topic, '--exit', '--json']);
    expect(tailed.exitCode, String(tailed.stderr)).toBe(0);
    const byValue = new Map(lines<Tailed>(tailed.stdout).map((r) => [JSON.stringify(r.value), r]));
    expect(byValue.get('{"n":1}')).toMatchObject({ key: 'user-1', headers: { trace: 't-1', source: 'test' } });
    expect(byValue.get('{"n":2,"url":"http://x"}')).toMatchObject({ key: 'user-2' });
    expect(byValue.get('"no delimiter here"')).toMatchObject({ key: null });
  });

  it('reads lines from --file, and JSON lines with key, headers and value', async () => {
    const topic = await created('produce_file');
    const plain = join(dir, 'plain.txt');
    await writeFile(plain, 'k1|first\nk2|second\n');
    const fromFile = await topics(['produce', topic, '--file', plain, '-K', '|']);
    expect(fromFile.exitCode, String(fromFile.stderr)).toBe(0);
    const jsonl = join(dir, 'messages.jsonl');
    await writeFile(
      jsonl,
      `${[
        { key: 'order-1', headers: { 'ce_type': 'order.placed', tag: ['a', 'b'] }, value: { total: 3 } },
        { key: null, value: 'plain text' },
        { key: 'order-1', value: null },
      ]
        .map((m) => JSON.stringify(m))
        .join('\n')}\n`,
    );
    const fromJsonl = await topics(['produce', topic, '--file', jsonl, '--jsonl', '-H', 'source=jsonl']);
    expect(fromJsonl.exitCode, String(fromJsonl.stderr)).toBe(0);

    const tailed = lines<Tailed>((await topics(['tail', topic, '--exit', '--json'])).stdout);
    expect(tailed).toHaveLength(5);
    const find = (value: unknown) => tailed.find((r) => JSON.stringify(r.value) === JSON.stringify(value));
    expect(find('first')).toMatchObject({ key: 'k1' });
    expect(find('second')).toMatchObject({ key: 'k2' });
    expect(find({ total: 3 })).toMatchObject({ key: 'order-1', headers: { ce_type: 'order.placed', tag: ['a', 'b'], source: 'jsonl' } });
    expect(find('plain text')).toMatchObject({ key: null, headers: { source: 'jsonl' } });
    expect(find(null)).toMatchObject({ key: 'order-1' });

    const bad = await topics(['produce', topic, '--jsonl'], { input: '{"key":"k","value":1}\nnot json\n' });
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toMatch(/line 2/);
    const missing = await topics(['produce', topic, '--file', join(dir, 'nope.txt')]);
    expect(missing.exitCode).toBe(2);
    expect(String(missing.stderr)).toMatch(/no such file/);
  });
});

describe('msctl topics tail --format kcat (real broker)', () => {
  it('prints what kcat -J prints: the same field names, types and values', async () => {
    const topic = await created('tail_kcat_format');
    const input = 'a:{"x":1}\nb:plain\n';
    const produced = await execa('kcat', ['-P', '-b', bootstrap, '-t', topic, '-K:', '-H', 'h1=v1', '-H', 'h2=v2'], { input });
    expect(produced.exitCode).toBe(0);
    await execa('kcat', ['-P', '-b', bootstrap, '-t', topic, '-p', '0'], { input: 'no-headers\n' });

    const kcat = lines<Record<string, unknown>>((await execa('kcat', ['-C', '-e', '-q', '-J', '-b', bootstrap, '-t', topic])).stdout);
    const ours = await topics(['tail', topic, '--exit', '--format', 'kcat']);
    expect(ours.exitCode, String(ours.stderr)).toBe(0);
    const mine = lines<Record<string, unknown>>(ours.stdout);
    const order = (list: Array<Record<string, unknown>>) => [...list].sort((a, b) => Number(a.partition) - Number(b.partition) || Number(a.offset) - Number(b.offset));
    expect(mine).toHaveLength(3);
    // Field names in kcat's order, types and values alike (headers only where there are some).
    expect(order(mine).map((r) => Object.keys(r))).toEqual(order(kcat).map((r) => Object.keys(r)));
    expect(order(mine)).toEqual(order(kcat));
    expect(order(mine).find((r) => r.key === 'a')).toMatchObject({ headers: ['h1', 'v1', 'h2', 'v2'], payload: '{"x":1}', tstype: 'create' });
  });
});

describe('the tail reader', () => {
  it('reads with a consumer group of its own and leaves none behind, on --exit and on --max', async () => {
    const topic = await created('reader_groups', 3);
    await topics(['produce', topic, '-K', ':'], { input: Array.from({ length: 50 }, (_, i) => `k${i}:v${i}`).join('\n') });
    const before = await readerGroups();
    const all = await topics(['tail', topic, '--exit', '--json']);
    expect(lines(all.stdout)).toHaveLength(50);
    const some = await topics(['tail', topic, '--from', 'beginning', '--max', '5', '--json']);
    expect(some.exitCode, String(some.stderr)).toBe(0);
    expect(lines(some.stdout)).toHaveLength(5);
    const one = await topics(['tail', topic, '--exit', '-p', '1', '--json']);
    expect(lines<Tailed>(one.stdout).every((r) => r.partition === 1)).toBe(true);
    expect((await readerGroups()).filter((g) => !before.includes(g))).toEqual([]);
  });
});

describe('the tail reader while it follows', () => {
  it('reads through a group of its own, which `topics groups` does not list, and deletes it on Ctrl-C', async () => {
    const topic = await created('reader_follow', 1);
    const before = await readerGroups();
    const child = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'topics', 'tail', topic, '--json', '--brokers', bootstrap], { reject: false, env: { NO_COLOR: '1' } });
    let mine: string[] = [];
    for (let i = 0; i < 100 && mine.length === 0; i++) {
      await sleep(100);
      mine = (await readerGroups()).filter((g) => !before.includes(g));
    }
    expect(mine).toHaveLength(1);
    const listed = JSON.parse(String((await topics(['groups', '--json'])).stdout)) as { groups: Array<{ groupId: string }> };
    expect(listed.groups.map((g) => g.groupId)).not.toContain(mine[0]);
    child.kill('SIGINT');
    expect((await child).exitCode).toBe(130);
    expect(await readerGroups()).not.toContain(mine[0]);
  });
});

describe('the tail reader and transactions', () => {
  it('shows committed transactions only and --exit ends although the log ends with a commit marker', async () => {
    const topic = await created('reader_txn', 1);
    const producer = kafka.producer({ transactionalId: uniqueName('txn'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const committed = await producer.transaction();
      await committed.send({ topic, messages: [{ key: 'k', value: 'kept-1' }, { key: 'k', value: 'kept-2' }] });
      await committed.commit();
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ key: 'k', value: 'dropped' }] });
      await aborted.abort();
      const last = await producer.transaction();
      await last.send({ topic, messages: [{ key: 'k', value: 'kept-3' }] });
      await last.commit();
    } finally {
      await producer.disconnect();
    }
    const tailed = await topics(['tail', topic, '--exit', '--format', 'raw'], { timeout: 30_000 });
    expect(tailed.exitCode, String(tailed.stderr)).toBe(0);
    expect(String(tailed.stdout).split('\n').filter(Boolean)).toEqual(['kept-1', 'kept-2', 'kept-3']);
  });
});
