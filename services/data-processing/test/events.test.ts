import { describe, expect, it } from 'vitest';
import { parseCloudEvent, type CloudEvent } from '@msctl/kit';
import { MAYBE_INEXACT, categoryOf, enrich, kafkaTimestampToIso, parseIngestBody, parseJsonExactly, rejectionReason, timeProblem, toCloudEvent, unstorable } from '../src/events';

const limits = { maxBatchSize: 3, maxEventBytes: 1024 };

describe('parseIngestBody', () => {
  it('turns one event into a CloudEvent with subject = subject ?? userId ?? id', () => {
    const a = parseIngestBody({ type: 'page.viewed', subject: 's', userId: 'u', data: {} }, limits);
    const b = parseIngestBody({ type: 'page.viewed', userId: 'u', data: {} }, limits);
    const c = parseIngestBody({ type: 'page.viewed', data: { x: 1 }, time: '2025-01-01T00:00:00+02:00' }, limits);
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected valid');
    expect(a.events[0]!.subject).toBe('s');
    expect(b.events[0]!.subject).toBe('u');
    expect(c.events[0]!.subject).toBe(c.events[0]!.id);
    expect(c.events[0]).toMatchObject({ specversion: '1.0', source: '/data-processing', time: '2025-01-01T00:00:00+02:00', data: { x: 1 } });
    expect(c.batch).toBe(false);
  });

  it.each([
    [{ type: '', data: {} }, 'type'],
    [{ type: 'Page.Viewed', data: {} }, 'type'],
    [{ type: 'page..viewed', data: {} }, 'type'],
    [{ type: 'a'.repeat(129), data: {} }, 'type'],
    [{ type: 'page.viewed', data: [] }, 'data'],
    [{ type: 'page.viewed', data: null }, 'data'],
    [{ type: 'page.viewed' }, 'data'],
    [{ type: 'page.viewed', data: {}, time: '2025-01-01' }, 'time'],
    [{ id: 'order-1', type: 'page.viewed', data: {} }, 'id'],
  ])('rejects %j at %s', (input, path) => {
    const result = parseIngestBody(input, limits);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(400);
    expect(result.invalid?.[0]?.errors.map((e) => e.path)).toContain(path);
  });

  it("keeps the client's id (a UUID), so that a resent event is the same event; else makes a new one", () => {
    const id = 'A3BB189E-8BF9-4888-9912-ACE4E6543002';
    const first = parseIngestBody({ id, type: 'page.viewed', data: {} }, limits);
    const again = parseIngestBody({ id, type: 'page.viewed', data: {} }, limits);
    const fresh = parseIngestBody({ events: [{ type: 'page.viewed', data: {} }, { type: 'page.viewed', data: {} }] }, limits);
    if (!first.ok || !again.ok || !fresh.ok) throw new Error('expected valid');
    expect(first.events[0]!.id).toBe(id.toLowerCase());
    expect(again.events[0]!.id).toBe(first.events[0]!.id);
    expect(fresh.events[0]!.id).not.toBe(fresh.events[1]!.id);
  });

  it('accepts valid type names', () => {
    for (const type of ['a', 'page.viewed', 'cart_item-added', 'v2.x.y']) expect(parseIngestBody({ type, data: {} }, limits).ok).toBe(true);
  });

  it('is all or nothing for a batch and lists the bad indexes', () => {
    const result = parseIngestBody({ events: [{ type: 'a', data: {} }, { type: 'B', data: {} }, { type: 'c' }] }, limits);
    expect(result).toMatchObject({ ok: false, status: 400 });
    if (result.ok) return;
    expect(result.invalid?.map((i) => i.index)).toEqual([1, 2]);
  });

  it('rejects batches over the limit with 413, and empty or non-array batches with 400', () => {
    const events = Array.from({ length: 4 }, () => ({ type: 'a', data: {} }));
    expect(parseIngestBody({ events }, limits)).toMatchObject({ ok: false, status: 413 });
    expect(parseIngestBody({ events: [] }, limits)).toMatchObject({ ok: false, status: 400 });
    expect(parseIngestBody({ events: 'x' }, limits)).toMatchObject({ ok: false, status: 400 });
    const ok = parseIngestBody({ events: events.slice(0, 3) }, limits);
    expect(ok).toMatchObject({ ok: true, batch: true });
    if (ok.ok) expect(new Set(ok.events.map((e) => e.id)).size).toBe(3);
  });

  it.each([
    [{ type: 'a', subject: 'a\u0000b', data: {} }, 'subject', /NUL character/],
    [{ type: 'a', userId: 'u\u0000', data: {} }, 'userId', /NUL character/],
    [{ type: 'a', data: { note: 'x\u0000y' } }, 'data.note', /NUL character/],
    [{ type: 'a', data: { list: [1, { deep: ['ok', 'n\u0000'] }] } }, 'data.list[1].deep[1]', /NUL character/],
    [{ type: 'a', data: { 'k\u0000': 1 } }, 'data["k\\u0000"]', /is a key that contains a NUL character/],
    [{ type: 'a', data: { s: 'half \ud83d pair' } }, 'data.s', /unpaired UTF-16 surrogate/],
    [{ type: 'a', data: { '\udc00': true } }, 'data["\\udc00"]', /is a key that contains an unpaired UTF-16 surrogate/],
    [parseJsonExactly('{"type":"a","data":{"n":1e400}}'), 'data.n', /the number 1e400, which a JSON number \(a double\) does not hold as written/],
    [parseJsonExactly('{"type":"a","data":{"n":[12345678901234567890]}}'), 'data.n[0]', /the number 12345678901234567890/],
    [parseJsonExactly('{"type":"a","data":{"n":1e-400}}'), 'data.n', /the number 1e-400/],
    [{ type: 'a', time: '0000-01-01T00:00:00Z', data: {} }, 'time', /years 0001 to 9999/],
    [{ type: 'a', time: '10000-01-01T00:00:00Z', data: {} }, 'time', /datetime|date-time/i],
  ])('refuses %j naming %s', (input, path, message) => {
    const result = parseIngestBody(input, limits);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(400);
    const error = result.invalid?.[0]?.errors.find((e) => e.path === path);
    expect(error, JSON.stringify(result.invalid)).toBeDefined();
    expect(error!.message).toMatch(message);
  });

  it('accepts what round-trips: large numbers as written, floats, emoji and other astral characters', () => {
    const body = parseJsonExactly('{"type":"a","data":{"big":123456789012345680000,"safe":9007199254740991,"f":1.5e300,"g":0.1,"h":100.500,"tiny":5e-324,"neg":-0,"text":"h\\u00e9llo 🎉 \\u2028 1234567890123456789"}}');
    const result = parseIngestBody(body, limits);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    expect(unstorable({ a: ['🎉'] })).toBeUndefined();
    expect(timeProblem('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(timeProblem('9999-12-31T23:59:59-01:00')).toBeUndefined();
  });

  it('rejects an event larger than maxEventBytes', () => {
    const result = parseIngestBody({ type: 'a', data: { blob: 'x'.repeat(2000) } }, limits);
    expect(result).toMatchObject({ ok: false, status: 400 });
  });
});

describe('the accepted events as they go to Kafka', () => {
  it("hands out each event's JSON text, the text whose size was checked", () => {
    const result = parseIngestBody({ events: [{ type: 'a', data: { n: 1 } }, { type: 'b', subject: 's', data: { text: 'é🎉' } }] }, limits);
    if (!result.ok) throw new Error(result.message);
    expect(result.values).toHaveLength(2);
    result.events.forEach((event, i) => expect(JSON.parse(result.values[i]!)).toEqual(event));
    const fits = parseIngestBody({ type: 'a', data: { blob: 'x'.repeat(500) } }, limits);
    if (!fits.ok) throw new Error(fits.message);
    const atLimit = { ...limits, maxEventBytes: Buffer.byteLength(fits.values[0]!) };
    expect(parseIngestBody({ type: 'a', data: { blob: 'x'.repeat(500) } }, atLimit).ok).toBe(true);
    expect(parseIngestBody({ type: 'a', data: { blob: 'x'.repeat(501) } }, atLimit)).toMatchObject({ ok: false, status: 400 });
  });

  it('gives the events of one body that carry no time the instant it was received, and keeps a time a client gave', () => {
    const before = Date.now();
    const result = parseIngestBody({ events: [{ type: 'a', data: {} }, { type: 'a', time: '2025-01-01T00:00:00Z', data: {} }, { type: 'a', data: {} }] }, limits);
    if (!result.ok) throw new Error(result.message);
    const [first, given, third] = result.events;
    expect(given!.time).toBe('2025-01-01T00:00:00Z');
    expect(third!.time).toBe(first!.time);
    expect(Date.parse(first!.time!)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(first!.time!)).toBeLessThanOrEqual(Date.now());
  });
});

describe('unstorable', () => {
  it('names the value at fault by its path, through arrays and keys that are not identifiers, from the path given', () => {
    expect(unstorable({ a: [{ b: 1 }, { 'c d': ['ok', 'x\u0000'] }] })?.path).toBe('a[1]["c d"][1]');
    expect(unstorable({ a: { ok: 'fine', ['k\u0000']: 1 } })?.path).toBe(`a[${JSON.stringify('k\u0000')}]`);
    expect(unstorable([1, [2, Number.NaN]], 'data')?.path).toBe('data[1][1]');
    expect(unstorable('\ud800')?.path).toBe('(value)');
    expect(unstorable({ first: '\u0000', second: '\u0000' })?.path).toBe('first');
  });
});

describe('kafkaTimestampToIso', () => {
  it('gives each timestamp its own instant, however they alternate', () => {
    const a = '1735689600000';
    const b = '1735689600001';
    expect([a, a, b, a, b, b].map(kafkaTimestampToIso)).toEqual(
      ['2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.001Z', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.001Z', '2025-01-01T00:00:00.001Z'],
    );
  });

  it('takes now for a timestamp that is not one, and does not keep it', () => {
    const before = Date.now();
    expect(Date.parse(kafkaTimestampToIso('-1'))).toBeGreaterThanOrEqual(before);
    expect(kafkaTimestampToIso('1735689600000')).toBe('2025-01-01T00:00:00.000Z');
  });
});

describe('parseIngestBody for a caller without the ingest scope (owner)', () => {
  const mine = { ...limits, owner: 'user-a' };

  it('makes an event that names nobody the caller\'s, and accepts one that names the caller', () => {
    const result = parseIngestBody({ events: [{ type: 'a', data: {} }, { type: 'a', subject: 'user-a', data: {} }, { type: 'a', userId: 'USER-A', data: {} }] }, mine);
    if (!result.ok) throw new Error(JSON.stringify(result));
    expect(result.events.map((event) => event.subject)).toEqual(['user-a', 'user-a', 'USER-A']);
  });

  it.each([
    [{ type: 'a', subject: 'user-b', data: {} }, ['subject']],
    [{ type: 'a', userId: 'user-b', data: {} }, ['userId']],
    [{ type: 'a', subject: 'user-a', userId: 'user-b', data: {} }, ['userId']],
    [{ type: 'a', subject: 'user-b', userId: 'user-b', data: {} }, ['subject', 'userId']],
  ])('refuses %j with 403 naming %j', (input, paths) => {
    const result = parseIngestBody(input, mine);
    expect(result).toMatchObject({ ok: false, status: 403, message: 'the event names another user: events posted with your token belong to you' });
    if (result.ok) return;
    expect(result.invalid).toHaveLength(1);
    expect(result.invalid![0]!.errors.map((error) => error.path)).toEqual(paths);
  });

  it('refuses a whole batch when one event names another user, listing the indexes', () => {
    const result = parseIngestBody({ events: [{ type: 'a', data: {} }, { type: 'a', subject: 'user-b', data: {} }, { type: 'a', userId: 'user-c', data: {} }] }, mine);
    expect(result).toMatchObject({ ok: false, status: 403, message: '2 of 3 events name another user (indexes 1, 2); none was accepted' });
    if (!result.ok) expect(result.invalid!.map((item) => item.index)).toEqual([1, 2]);
  });

  it('answers an invalid event with 400 before a foreign one with 403', () => {
    const result = parseIngestBody({ events: [{ type: 'a', subject: 'user-b', data: {} }, { type: 'A', data: {} }] }, mine);
    expect(result).toMatchObject({ ok: false, status: 400 });
  });

  it('without an owner, accepts any subject (the ingest scope)', () => {
    const result = parseIngestBody({ type: 'a', subject: 'user-b', data: {} }, limits);
    expect(result.ok && result.events[0]!.subject).toBe('user-b');
  });
});

describe('consumed records', () => {
  const record = (value: string) => {
    let event: CloudEvent | undefined;
    let invalidReason: string | undefined;
    try {
      event = parseCloudEvent(value);
    } catch (error) {
      invalidReason = (error as Error).message;
    }
    return { topic: 'p.events.raw', partition: 2, offset: '41', key: 'k1', value: Buffer.from(value), timestamp: '1735689600000', event, invalidReason };
  };

  it('says why a record is rejected', () => {
    expect(rejectionReason(record('nope'))).toMatch(/not JSON/);
    expect(rejectionReason(record('{"a":1}'))).toMatch(/not a CloudEvent/);
    const ce = (patch: object) => JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 'a.b', data: {}, ...patch });
    expect(rejectionReason(record(ce({ type: 'A B' })))).toMatch(/type/);
    expect(rejectionReason(record(ce({ data: [1] })))).toMatch(/data must be a JSON object/);
    expect(rejectionReason(record(ce({ data: undefined })))).toMatch(/data must be a JSON object/);
    expect(rejectionReason(record(ce({ data: { big: 'x'.repeat(70_000) } })))).toMatch(/bytes/);
    expect(rejectionReason(record(ce({})))).toBeUndefined();
  });

  it('enriches without touching id, type, subject, time or data, and the result is still a CloudEvent', () => {
    const input = toCloudEvent({ type: 'page.viewed', userId: 'u1', time: '2025-01-01T00:00:00.000Z', data: { nested: { a: [1] } } });
    const r = record(JSON.stringify(input));
    const now = new Date('2025-01-02T00:00:00.000Z');
    const out = enrich(r.event!, r, now);
    expect(out).toMatchObject({ id: input.id, type: input.type, subject: 'u1', time: input.time, source: input.source, data: input.data });
    expect(out.processedat).toBe('2025-01-02T00:00:00.000Z');
    expect(out.enrichment).toEqual({ receivedAt: '2025-01-01T00:00:00.000Z', partition: 2, offset: '41', category: 'page' });
    expect(parseCloudEvent(JSON.stringify(out))).toEqual(input);
  });

  it('takes the processing instant as ISO text too, made once for a batch', () => {
    const input = toCloudEvent({ type: 'page.viewed', data: {} });
    const r = record(JSON.stringify(input));
    expect(enrich(r.event!, r, '2025-01-02T00:00:00.000Z').processedat).toBe('2025-01-02T00:00:00.000Z');
  });

  it('names the type category', () => {
    expect(categoryOf('cart_item-added')).toBe('cart');
  });

  it('refuses a consumed event with values the consumers downstream cannot store', () => {
    const ce = (patch: object) => JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 'a.b', data: {}, ...patch });
    expect(rejectionReason(record(ce({ subject: 'a\u0000b' })))).toBe('subject contains a NUL character (U+0000), which PostgreSQL cannot store');
    expect(rejectionReason(record(ce({ data: { title: '\ud800' } })))).toMatch(/^data\.title contains an unpaired UTF-16 surrogate/);
    expect(rejectionReason(record(ce({ time: '0000-01-01T00:00:00Z' })))).toMatch(/^time must be an ISO 8601 date-time in the years 0001 to 9999/);
  });
});

describe('which bodies take the exact-number parse', () => {
  it.each([
    '1e400',
    '{"n":1e400}',
    '{"n": -1.5E+308}',
    '{"n":\n\t1e-400}',
    '[1,12345678901234567890]',
    '{"a":[0.1000000000000001]}',
  ])('a number that may not round-trip: %s', (text) => {
    expect(MAYBE_INEXACT.test(text)).toBe(true);
  });

  it.each([
    '{"subject":"4e3a1f2e-5e12-4c3b-9e45-1e2345678901","data":{"seq":12}}',
    '{"text":"1234567890123456789","n":123456789012345}',
    '{"f":1.5e30,"g":-0.25}',
  ])('strings and ordinary numbers do not: %s', (text) => {
    expect(MAYBE_INEXACT.test(text)).toBe(false);
  });
});
