/**
 * Recent spans on disk under `.msctl/traces/`: append-only NDJSON segments
 * (`spans-<unix ms>.ndjson`, one StoredSpan per line). A segment rolls over at
 * `segmentBytes`; the oldest segments are deleted once all of them exceed `maxBytes`, so the
 * store stays bounded whatever the load. Readers tolerate a torn last line.
 *
 * The pure part — grouping spans into traces, summaries, filters — lives here too.
 */
import { mkdir, open, readFile, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoredSpan } from './otlp';
import { compareNames } from '../../services/kit/src/order';

export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

const SEGMENT = /^spans-(\d+)\.ndjson$/;

export interface SegmentInfo {
  file: string;
  startedAt: number;
  bytes: number;
  modifiedAt: number;
}

export async function listSegments(dir: string): Promise<SegmentInfo[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const segments: SegmentInfo[] = [];
  for (const name of names) {
    const match = SEGMENT.exec(name);
    if (!match) continue;
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info) segments.push({ file: join(dir, name), startedAt: Number(match[1]), bytes: info.size, modifiedAt: info.mtimeMs });
  }
  return segments.sort((a, b) => a.startedAt - b.startedAt || compareNames(a.file, b.file));
}

export interface SpanWriterOptions {
  dir: string;
  segmentBytes?: number;
  maxBytes?: number;
  now?: () => number;
}

/**
 * Appends spans, one write at a time, rolling and pruning segments. The current segment stays
 * open between writes: opening and closing it for each export was a tenth of the supervisor's
 * CPU under load. `close()` closes it.
 */
export class SpanWriter {
  private queue: Promise<void> = Promise.resolve();
  private current: { file: string; bytes: number } | undefined;
  private total: number | undefined;
  private open: { file: string; handle: FileHandle } | undefined;

  constructor(private readonly options: SpanWriterOptions) {}

  write(spans: StoredSpan[]): Promise<void> {
    if (spans.length === 0) return this.queue;
    const text = `${spans.map((span) => JSON.stringify(span)).join('\n')}\n`;
    const next = this.queue.then(() => this.append(text));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Resolves once everything written so far is on disk. */
  flushed(): Promise<void> {
    return this.queue;
  }

  /** Writes what is queued, then closes the segment kept open (a later write opens it again). */
  close(): Promise<void> {
    const closed = this.queue.then(() => this.closeSegment());
    this.queue = closed.catch(() => undefined);
    return closed;
  }

  private async closeSegment(): Promise<void> {
    const open = this.open;
    this.open = undefined;
    await open?.handle.close();
  }

  private async append(text: string): Promise<void> {
    const { dir } = this.options;
    const segmentBytes = this.options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    const bytes = Buffer.byteLength(text);
    if (!this.current || this.total === undefined) {
      await mkdir(dir, { recursive: true });
      const segments = await listSegments(dir);
      this.total = segments.reduce((sum, segment) => sum + segment.bytes, 0);
      const last = segments.at(-1);
      this.current = last && last.bytes < segmentBytes ? { file: last.file, bytes: last.bytes } : undefined;
    }
    if (!this.current || this.current.bytes + bytes > segmentBytes) {
      let startedAt = (this.options.now ?? Date.now)();
      const previous = this.current ? Number(SEGMENT.exec(this.current.file.split('/').at(-1)!)?.[1]) : 0;
      if (startedAt <= previous) startedAt = previous + 1;
      this.current = { file: join(dir, `spans-${startedAt}.ndjson`), bytes: 0 };
    }
    if (this.open?.file !== this.current.file) {
      await this.closeSegment();
      this.open = { file: this.current.file, handle: await open(this.current.file, 'a') };
    }
    await this.open.handle.appendFile(text);
    this.current.bytes += bytes;
    this.total += bytes;
    if (this.total > (this.options.maxBytes ?? DEFAULT_MAX_BYTES)) await this.prune();
  }

  private async prune(): Promise<void> {
    const maxBytes = this.options.maxBytes ?? DEFAULT_MAX_BYTES;
    const segments = await listSegments(this.options.dir);
    let total = segments.reduce((sum, segment) => sum + segment.bytes, 0);
    for (const segment of segments) {
      if (total <= maxBytes || segment.file === this.current?.file) break;
      await rm(segment.file, { force: true });
      total -= segment.bytes;
    }
    this.total = total;
  }
}

/** Every span stored (optionally only segments written since `since`), in file order. */
export async function readSpans(dir: string, options: { since?: number } = {}): Promise<StoredSpan[]> {
  const spans: StoredSpan[] = [];
  for (const segment of await listSegments(dir)) {
    if (options.since !== undefined && segment.modifiedAt < options.since) continue;
    const text = await readFile(segment.file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        spans.push(JSON.parse(line) as StoredSpan);
      } catch {
        // a line being written right now
      }
    }
  }
  return spans;
}

// ---- traces ----

export interface Trace {
  traceId: string;
  spans: StoredSpan[];
}

export interface TraceSummary {
  traceId: string;
  /** "service: operation" of the root span (the earliest span without a parent in the trace). */
  root: string;
  rootService: string;
  rootOperation: string;
  /** ISO time of the first span. */
  start: string;
  durationMs: number;
  spanCount: number;
  services: string[];
  errors: number;
}

export function groupTraces(spans: StoredSpan[]): Trace[] {
  const byTrace = new Map<string, Map<string, StoredSpan>>();
  for (const span of spans) {
    let trace = byTrace.get(span.traceId);
    if (!trace) byTrace.set(span.traceId, (trace = new Map()));
    trace.set(span.spanId, span); // a span exported twice counts once
  }
  return [...byTrace].map(([traceId, map]) => ({ traceId, spans: [...map.values()].sort((a, b) => a.start - b.start) }));
}

export function rootOf(trace: Trace): StoredSpan {
  const ids = new Set(trace.spans.map((span) => span.spanId));
  return trace.spans.find((span) => !span.parentSpanId || !ids.has(span.parentSpanId)) ?? trace.spans[0]!;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function summarize(trace: Trace): TraceSummary {
  const root = rootOf(trace);
  const start = Math.min(...trace.spans.map((span) => span.start));
  const end = Math.max(...trace.spans.map((span) => span.end));
  const services: string[] = [];
  for (const span of trace.spans) if (!services.includes(span.service)) services.push(span.service);
  return {
    traceId: trace.traceId,
    root: `${root.service}: ${root.name}`,
    rootService: root.service,
    rootOperation: root.name,
    start: new Date(start).toISOString(),
    durationMs: round(end - start),
    spanCount: trace.spans.length,
    services,
    errors: trace.spans.filter((span) => span.status === 'error').length,
  };
}

export interface TraceFilter {
  service?: string;
  minDurationMs?: number;
  /** Unix ms: traces that started at or after. */
  since?: number;
  limit?: number;
}

/** Newest first. */
export function listTraces(spans: StoredSpan[], filter: TraceFilter = {}): TraceSummary[] {
  const summaries = groupTraces(spans)
    .filter((trace) => filter.service === undefined || trace.spans.some((span) => span.service === filter.service))
    .map(summarize)
    .filter((summary) => filter.minDurationMs === undefined || summary.durationMs >= filter.minDurationMs)
    .filter((summary) => filter.since === undefined || Date.parse(summary.start) >= filter.since)
    .sort((a, b) => Date.parse(b.start) - Date.parse(a.start));
  return filter.limit === undefined ? summaries : summaries.slice(0, filter.limit);
}

/** The trace whose id is `id` or starts with it; ambiguous prefixes name every candidate. */
export function findTrace(spans: StoredSpan[], id: string): { trace?: Trace; candidates: string[] } {
  const wanted = id.toLowerCase();
  const traces = groupTraces(spans.filter((span) => span.traceId.startsWith(wanted)));
  const exact = traces.find((trace) => trace.traceId === wanted);
  if (exact) return { trace: exact, candidates: [exact.traceId] };
  if (traces.length === 1) return { trace: traces[0], candidates: [traces[0]!.traceId] };
  return { candidates: traces.map((trace) => trace.traceId) };
}
