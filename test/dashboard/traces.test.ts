/** The dashboard's reader of the trace store: only new bytes, only the window, one summary per trace. */
import { describe, expect, it } from 'vitest';
import { RecentTraces, type TraceFiles } from '../../src/dashboard/traces';
import { listTraces } from '../../src/traces/store';
import type { StoredSpan } from '../../src/traces/otlp';

const NOW = Date.parse('2025-01-01T13:00:00Z');

const span = (traceId: string, spanId: string, service: string, name: string, start: number, end: number, parentSpanId?: string): StoredSpan => ({
  traceId,
  spanId,
  ...(parentSpanId ? { parentSpanId } : {}),
  name,
  kind: 'server',
  service,
  start,
  end,
  status: 'ok',
  attributes: {},
});
const lines = (...spans: StoredSpan[]) => spans.map((s) => `${JSON.stringify(s)}\n`).join('');

/** Segments in memory; every read is recorded. */
function store() {
  const files = new Map<string, { text: string; modifiedAt: number }>();
  const reads: Array<{ file: string; position: number; length: number }> = [];
  const io: TraceFiles = {
    list: async () => [...files].map(([file, f]) => ({ file, bytes: Buffer.byteLength(f.text), modifiedAt: f.modifiedAt })),
    read: async (file, position, length) => {
      reads.push({ file, position, length });
      return Buffer.from(files.get(file)!.text).subarray(position, position + length);
    },
  };
  const append = (file: string, text: string, at = NOW) => {
    const current = files.get(file)?.text ?? '';
    files.set(file, { text: current + text, modifiedAt: at });
  };
  return { files, reads, io, append };
}

describe('RecentTraces', () => {
  it('summarises traces as listTraces does: root, duration, every service', async () => {
    const { io, append } = store();
    const spans = [
      span('t1', 'a', 'gateway', 'POST /api/users', NOW - 1000, NOW - 800),
      span('t1', 'b', 'users', 'POST /users', NOW - 990, NOW - 810, 'a'),
      span('t1', 'b', 'users', 'POST /users', NOW - 990, NOW - 810, 'a'), // exported twice
      span('t2', 'c', 'data-processing', 'consume events.raw', NOW - 500, NOW - 400, 'missing-parent'),
      span('t2', 'd', 'analytics', 'insert', NOW - 450, NOW - 300, 'c'),
    ];
    append('spans-1.ndjson', lines(...spans));
    const recent = await new RecentTraces(io).refresh(NOW);
    const expected = listTraces(spans).map((t) => ({ traceId: t.traceId, root: t.root, durationMs: t.durationMs, services: t.services }));
    const bySorted = (a: { traceId: string }, b: { traceId: string }) => a.traceId.localeCompare(b.traceId);
    expect(recent.map((t) => ({ ...t, services: [...t.services].sort() })).sort(bySorted)).toEqual(expected.map((t) => ({ ...t, services: [...t.services].sort() })).sort(bySorted));
  });

  it('reads only the bytes appended since the last refresh; an unchanged store is not read at all', async () => {
    const { io, append, reads } = store();
    const first = lines(span('t1', 'a', 'gateway', 'GET /x', NOW - 100, NOW - 90));
    append('spans-1.ndjson', first);
    const traces = new RecentTraces(io);
    await traces.refresh(NOW);
    expect(reads).toEqual([{ file: 'spans-1.ndjson', position: 0, length: Buffer.byteLength(first) }]);

    reads.length = 0;
    await traces.refresh(NOW + 5_000);
    await traces.refresh(NOW + 10_000);
    expect(reads).toEqual([]);

    append('spans-1.ndjson', lines(span('t2', 'b', 'users', 'GET /y', NOW + 10_000, NOW + 10_500)));
    const recent = await traces.refresh(NOW + 11_000);
    expect(reads.map((r) => r.position)).toEqual([Buffer.byteLength(first)]);
    expect(recent.map((t) => t.traceId).sort()).toEqual(['t1', 't2']);
  });

  it('never reads a segment last written before the window, however big', async () => {
    const { io, append, reads } = store();
    const old = Array.from({ length: 1000 }, (_, i) => span(`old${i}`, 's', 'gateway', 'GET /x', NOW - 3_600_000, NOW - 3_599_000));
    append('spans-1.ndjson', lines(...old), NOW - 3_599_000);
    append('spans-2.ndjson', lines(span('new', 's', 'users', 'GET /y', NOW - 1000, NOW - 900)));
    const recent = await new RecentTraces(io).refresh(NOW);
    expect(new Set(reads.map((r) => r.file))).toEqual(new Set(['spans-2.ndjson']));
    expect(recent.map((t) => t.traceId)).toEqual(['new']);
  });

  it('leaves a torn last line for the next refresh, drops traces that ended before the window, forgets removed segments', async () => {
    const { io, append, files } = store();
    const whole = lines(span('t1', 'a', 'gateway', 'GET /x', NOW - 1000, NOW - 900));
    const torn = JSON.stringify(span('t2', 'b', 'users', 'GET /y', NOW - 800, NOW - 700));
    append('spans-1.ndjson', whole + torn.slice(0, 20));
    const traces = new RecentTraces(io, { windowMs: 60_000 });
    expect((await traces.refresh(NOW)).map((t) => t.traceId)).toEqual(['t1']);
    files.set('spans-1.ndjson', { text: `${whole + torn}\n`, modifiedAt: NOW });
    expect((await traces.refresh(NOW)).map((t) => t.traceId).sort()).toEqual(['t1', 't2']);
    expect((await traces.refresh(NOW + 60_000 - 850)).map((t) => t.traceId)).toEqual(['t2']);
    files.delete('spans-1.ndjson');
    append('spans-2.ndjson', lines(span('t3', 'c', 'users', 'GET /z', NOW + 1000, NOW + 1100)));
    expect((await traces.refresh(NOW + 2000)).map((t) => t.traceId).sort()).toEqual(['t2', 't3']);
  });

  it('keeps at most maxTraces, the oldest going first', async () => {
    const { io, append } = store();
    append('spans-1.ndjson', lines(...Array.from({ length: 10 }, (_, i) => span(`t${i}`, 's', 'gateway', 'GET /x', NOW - 100 + i, NOW - 50 + i))));
    const recent = await new RecentTraces(io, { maxTraces: 3 }).refresh(NOW);
    expect(recent.map((t) => t.traceId)).toEqual(['t7', 't8', 't9']);
  });
});
