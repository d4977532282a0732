/** The pure parts of `msctl topics`: start positions, filters, formats, names, envelopes, broker address. */
import { describe, expect, it } from 'vitest';
import { Chalk } from 'chalk';
import { MsctlError } from '../../src/core/errors';
import type { FetchedRecord } from '../../src/infra/kafka/client';
import { parseBrokers, resolveBrokers } from '../../src/topics/brokers';
import { compileFilter, parseWhere, valueAt } from '../../src/topics/filter';
import { deleteConfirmation, parseConfigs } from '../../src/topics/admin';
import { jsonLine, kcatLine, prettyFormatter, rawLine } from '../../src/topics/format';
import { parseFrom, startOffset } from '../../src/topics/from';
import { TailMessage, decodeValue } from '../../src/topics/message';
import { cloudEvent, parseHeaders, parseLine } from '../../src/topics/produce';
import { similarNames } from '../../src/topics/similar';
import type { Project } from '../../src/stack/project';

const record = (value: Buffer | string | null, extra: Partial<FetchedRecord> = {}): FetchedRecord => ({
  offset: 7,
  timestamp: 1_700_000_000_000,
  key: null,
  value: typeof value === 'string' ? Buffer.from(value) : value,
  headers: {},
  ...extra,
});
const message = (value: Buffer | string | null, extra: Partial<FetchedRecord> = {}) => new TailMessage('t', 1, record(value, extra));

describe('--from', () => {
  const now = new Date('2025-01-31T10:00:00Z');
  it('parses every form', () => {
    expect(parseFrom('beginning')).toEqual({ kind: 'beginning' });
    expect(parseFrom('end')).toEqual({ kind: 'end' });
    expect(parseFrom('42')).toEqual({ kind: 'offset', offset: 42 });
    expect(parseFrom('-10')).toEqual({ kind: 'last', count: 10 });
    expect(parseFrom('10m', now)).toEqual({ kind: 'time', timestamp: now.getTime() - 600_000 });
    expect(parseFrom('1h30m ago', now)).toEqual({ kind: 'time', timestamp: now.getTime() - 5_400_000 });
    expect(parseFrom('1.5h', now)).toEqual({ kind: 'time', timestamp: now.getTime() - 5_400_000 });
    expect(parseFrom('2025-01-31T09:00:00Z')).toEqual({ kind: 'time', timestamp: Date.parse('2025-01-31T09:00:00Z') });
    expect(() => parseFrom('yesterday')).toThrow(MsctlError);
  });
  it('clamps offsets into the log', () => {
    expect(startOffset({ kind: 'beginning' }, 5, 20)).toBe(5);
    expect(startOffset({ kind: 'end' }, 5, 20)).toBe(20);
    expect(startOffset({ kind: 'offset', offset: 2 }, 5, 20)).toBe(5);
    expect(startOffset({ kind: 'offset', offset: 99 }, 5, 20)).toBe(20);
    expect(startOffset({ kind: 'last', count: 3 }, 5, 20)).toBe(17);
    expect(startOffset({ kind: 'last', count: 30 }, 5, 20)).toBe(5);
    expect(startOffset({ kind: 'time', timestamp: 0 }, 5, 20, 12)).toBe(12);
  });
});

describe('filters', () => {
  const event = JSON.stringify({ specversion: '1.0', id: '1', type: 'user.created', source: '/u', data: { userId: 'u-1', n: 3, tags: ['a'] } });
  it('parses --where', () => {
    expect(parseWhere('data.userId=u-1')).toEqual({ path: ['data', 'userId'], op: '=', value: 'u-1' });
    expect(parseWhere('a!=b=c')).toEqual({ path: ['a'], op: '!=', value: 'b=c' });
    expect(() => parseWhere('novalue')).toThrow(MsctlError);
    expect(valueAt({ a: [{ b: 1 }] }, ['a', '0', 'b'])).toBe(1);
  });
  it('matches key, type, where and grep together', () => {
    expect(compileFilter({})).toBeUndefined();
    const f = compileFilter({ key: 'k', type: 'user.created', where: ['data.userId=u-1', 'data.n=3'], grep: 'u-\\d' })!;
    expect(f(message(event, { key: Buffer.from('k') }))).toBe(true);
    expect(f(message(event, { key: Buffer.from('other') }))).toBe(false);
    expect(compileFilter({ where: ['data.userId=u-2'] })!(message(event))).toBe(false);
    expect(compileFilter({ where: ['data.userId!=u-2'] })!(message(event))).toBe(true);
    expect(compileFilter({ where: ['data.tags=["a"]'] })!(message(event))).toBe(true);
    expect(compileFilter({ type: 'user.deleted' })!(message(event))).toBe(false);
    // binary-mode CloudEvent: the type is in the ce_type header
    expect(compileFilter({ type: 'x.y' })!(message('{}', { headers: { ce_type: Buffer.from('x.y') } }))).toBe(true);
    // never crashes on non-JSON or binary values
    expect(compileFilter({ where: ['a=1'] })!(message(Buffer.from([0xff, 0xfe, 0x00])))).toBe(false);
    expect(compileFilter({ grep: 'x' })!(message(null))).toBe(false);
    expect(() => compileFilter({ grep: '(' })).toThrow(MsctlError);
  });
});

describe('formats', () => {
  it('json: JSON values as they are, text as strings, binary as base64', () => {
    const line = (m: TailMessage) => JSON.parse(jsonLine(m)) as Record<string, unknown>;
    expect(line(message('{"a":1}', { key: Buffer.from('k'), headers: { h: Buffer.from('v'), r: [Buffer.from('1'), Buffer.from('2')] } }))).toEqual({
      topic: 't', partition: 1, offset: 7, timestamp: 1_700_000_000_000, key: 'k', headers: { h: 'v', r: ['1', '2'] }, value: { a: 1 },
    });
    expect(line(message('{\n "a": 1\n}')).value).toEqual({ a: 1 });
    expect(jsonLine(message('{\n "a": 1\n}')).split('\n')).toHaveLength(2);
    expect(line(message('plain text')).value).toBe('plain text');
    expect(line(message('{broken')).value).toBe('{broken');
    const bytes = Buffer.from([0xff, 0x00, 0x80, 0x41]);
    const binary = line(message(bytes, { key: Buffer.from([0xc3]), headers: { b: Buffer.from([0xff]) } }));
    expect(binary).toMatchObject({ value: bytes.toString('base64'), valueEncoding: 'base64', key: 'ww==', keyEncoding: 'base64', headers: { b: { base64: '/w==' } } });
    expect(line(message(null)).value).toBeNull();
  });
  it('raw: the bytes and a newline; pretty: the CloudEvent data indented', () => {
    expect(rawLine(message('abc')).toString()).toBe('abc\n');
    const pretty = prettyFormatter(new Chalk({ level: 0 }));
    const out = pretty(message(JSON.stringify({ specversion: '1.0', type: 'order.shipped', id: 'e1', subject: 's1', data: { order: 'o-1' } }), { key: Buffer.from('u1') })) as string;
    expect(out).toContain('order.shipped');
    expect(out).toContain('key=u1');
    expect(out).toContain('subject=s1');
    expect(out).toContain('  {\n    "order": "o-1"\n  }');
    expect(out).not.toContain('\u001b[');
    expect(pretty(message(Buffer.from([0xff, 0x00])))).toContain('(binary, 2 bytes, base64) /wA=');
    expect(decodeValue(Buffer.from('123')).kind).toBe('json');
  });
});

describe('names, headers, envelopes, brokers', () => {
  it('suggests similar names', () => {
    expect(similarNames('order', ['orders', 'users.events', 'events.raw'])).toEqual(['orders']);
    expect(similarNames('evnts.raw', ['orders', 'events.raw', 'events.dlq'])[0]).toBe('events.raw');
    expect(similarNames('zzz', ['orders'])).toEqual([]);
  });
  it('parses -H and wraps CloudEvents', () => {
    expect(parseHeaders(['a=1', 'b=x=y', 'a=2'])).toEqual({ a: ['1', '2'], b: 'x=y' });
    expect(() => parseHeaders(['=v'])).toThrow(MsctlError);
    const now = new Date('2025-01-31T10:00:00Z');
    expect(cloudEvent('t.x', '{"a":1}', 'k', now, 'id-1')).toEqual({
      specversion: '1.0', id: 'id-1', source: '/msctl', type: 't.x', time: '2025-01-31T10:00:00.000Z', subject: 'k', datacontenttype: 'application/json', data: { a: 1 },
    });
    expect(cloudEvent('t.x', 'text', undefined, now, 'id-1')).not.toHaveProperty('subject');
    expect(cloudEvent('t.x', 'text', undefined, now, 'id-1').data).toBe('text');
  });
  it('takes the broker from --brokers or the project', async () => {
    expect(parseBrokers('a:1,127.0.0.1:2')).toEqual(['a:1', '127.0.0.1:2']);
    expect(() => parseBrokers('nohost')).toThrow(MsctlError);
    const project = { infrastructure: { kafkaPort: 19999 } } as Project;
    expect(await resolveBrokers(undefined, undefined, async () => project)).toEqual(['127.0.0.1:19999']);
    expect(await resolveBrokers('h:1', undefined, async () => project)).toEqual(['h:1']);
    const noProject = async (): Promise<Project> => {
      throw new MsctlError('USAGE', 'no msctl project at or above /x');
    };
    await expect(resolveBrokers(undefined, undefined, noProject)).rejects.toMatchObject({ code: 'USAGE', hint: expect.stringContaining('--brokers host:port') });
  });
});

describe('produce lines', () => {
  it('-K: the key is what comes before the first delimiter; a line without one has no key', () => {
    const keyed = { kind: 'keyed', delimiter: '::' } as const;
    expect(parseLine('u-1::{"a":"b::c"}', keyed, 1)).toEqual({ key: 'u-1', value: '{"a":"b::c"}' });
    expect(parseLine('::v', keyed, 1)).toEqual({ key: '', value: 'v' });
    expect(parseLine('just a value', keyed, 1)).toEqual({ key: null, value: 'just a value' });
    expect(parseLine('k::v', { kind: 'value' }, 1)).toEqual({ value: 'k::v' });
  });
  it('--jsonl: key, headers and value; non-string values as their JSON, null as a tombstone; clear errors with the line', () => {
    const jsonl = { kind: 'jsonl' } as const;
    expect(parseLine('{"key":"k","headers":{"h":"1","r":["a","b"]},"value":{"x":1}}', jsonl, 1)).toEqual({ key: 'k', headers: { h: '1', r: ['a', 'b'] }, value: '{"x":1}' });
    expect(parseLine('{"value":"text"}', jsonl, 1)).toEqual({ value: 'text' });
    expect(parseLine('{"key":null,"value":null}', jsonl, 1)).toEqual({ key: null, value: null });
    expect(() => parseLine('nope', jsonl, 3)).toThrow(/line 3: not JSON/);
    expect(() => parseLine('[1]', jsonl, 1)).toThrow(/not a JSON object/);
    expect(() => parseLine('{"key":"k"}', jsonl, 1)).toThrow(/no "value"/);
    expect(() => parseLine('{"value":1,"payload":2}', jsonl, 1)).toThrow(/unknown field "payload"/);
    expect(() => parseLine('{"value":1,"key":5}', jsonl, 1)).toThrow(/"key" must be/);
    expect(() => parseLine('{"value":1,"headers":{"h":1}}', jsonl, 1)).toThrow(/"headers" must be/);
  });
});

describe('topics create / delete', () => {
  it('--config pairs: name=value, the last of a repeated name wins', () => {
    expect(parseConfigs(['retention.ms=1000', 'cleanup.policy=compact,delete', 'retention.ms=2000'])).toEqual([
      { name: 'retention.ms', value: '2000' },
      { name: 'cleanup.policy', value: 'compact,delete' },
    ]);
    expect(() => parseConfigs(['retention.ms'])).toThrow(MsctlError);
  });
  it('delete asks on a terminal, refuses elsewhere, and --yes goes ahead anywhere', () => {
    expect(deleteConfirmation({ yes: false, interactive: true })).toBe('ask');
    expect(deleteConfirmation({ yes: false, interactive: false })).toBe('refuse');
    expect(deleteConfirmation({ yes: true, interactive: false })).toBe('proceed');
  });
});

describe('--format kcat', () => {
  const context = { leader: () => 3, timestampType: () => 'create' as const };
  it('prints kcat -J fields: headers as a flat array and only when present, key and payload as text', () => {
    const m = message('{"a":1}', { key: Buffer.from('k'), headers: { h: Buffer.from('1'), r: [Buffer.from('a'), Buffer.from('b')] } });
    expect(JSON.parse(kcatLine(m, context))).toEqual({
      topic: 't',
      partition: 1,
      offset: 7,
      tstype: 'create',
      ts: 1_700_000_000_000,
      broker: 3,
      headers: ['h', '1', 'r', 'a', 'r', 'b'],
      key: 'k',
      payload: '{"a":1}',
    });
    const bare = JSON.parse(kcatLine(message(null), context));
    expect(Object.keys(bare)).toEqual(['topic', 'partition', 'offset', 'tstype', 'ts', 'broker', 'key', 'payload']);
    expect(bare).toMatchObject({ key: null, payload: null });
  });
});
