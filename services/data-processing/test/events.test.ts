import { describe, expect, it } from 'vitest';
import { parseCloudEvent, type CloudEvent } from '@msctl/kit';
import { categoryOf, deadLetter, enrich, parseIngestBody, rejectionReason, toCloudEvent } from '../src/events';

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

  it('rejects an event larger than maxEventBytes', () => {
    const result = parseIngestBody({ type: 'a', data: { blob: 'x'.repeat(2000) } }, limits);
    expect(result).toMatchObject({ ok: false, status: 400 });
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

  it('builds a dead letter whose id is stable per record', () => {
    const r = record('not json');
    const a = deadLetter(r, 'value is not JSON');
    const b = deadLetter(r, 'value is not JSON');
    expect(a.id).toBe(b.id);
    expect(a).toMatchObject({ type: 'msctl.dlq', subject: 'k1', data: { reason: 'value is not JSON', topic: 'p.events.raw', partition: 2, offset: '41', original: 'not json' } });
    expect(categoryOf('cart_item-added')).toBe('cart');
  });
});
