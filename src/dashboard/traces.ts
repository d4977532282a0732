/**
 * The recent traces the dashboard's "slowest traces" line needs, read from the trace store
 * (.msctl/traces/spans-*.ndjson) a little at a time: each refresh reads only the bytes
 * appended since the last one, and keeps one small summary per trace, not the spans. What the
 * store held before the window (a long load run an hour ago) is never parsed, and an idle
 * stack costs a directory listing per refresh. The files are injected.
 */

export interface TraceSegment {
  file: string;
  bytes: number;
  modifiedAt: number;
}

export interface TraceFiles {
  /** The store's segments, oldest first. */
  list(): Promise<TraceSegment[]>;
  /** Up to `length` bytes of `file` from `position` (fewer at its end). */
  read(file: string, position: number, length: number): Promise<Buffer>;
}

export interface RecentTrace {
  traceId: string;
  root: string;
  durationMs: number;
  services: string[];
}

interface TraceSummary {
  start: number;
  end: number;
  services: string[];
  /** "service: name" of the earliest span without a parent, and of the earliest span at all. */
  root: { start: number; name: string } | undefined;
  first: { start: number; name: string };
}

interface SpanLine {
  traceId?: unknown;
  parentSpanId?: unknown;
  name?: unknown;
  service?: unknown;
  start?: unknown;
  end?: unknown;
}

export interface RecentTracesOptions {
  /** Traces whose last span ended longer ago are dropped (default 5 min). */
  windowMs?: number;
  /** At most this many traces are kept; the oldest go first (default 20 000). */
  maxTraces?: number;
  /** Bytes read at once (default 1 MiB). */
  chunkBytes?: number;
}

const NEWLINE = 0x0a;

export class RecentTraces {
  /** Per segment: the byte after the last whole line read. */
  private readonly positions = new Map<string, number>();
  private readonly traces = new Map<string, TraceSummary>();
  private readonly windowMs: number;
  private readonly maxTraces: number;
  private readonly chunkBytes: number;

  constructor(
    private readonly files: TraceFiles,
    options: RecentTracesOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.maxTraces = options.maxTraces ?? 20_000;
    this.chunkBytes = options.chunkBytes ?? 1 << 20;
  }

  /** Reads what was appended since the last call; the traces that ended within the window. */
  async refresh(now: number): Promise<RecentTrace[]> {
    const since = now - this.windowMs;
    const segments = await this.files.list();
    const present = new Set(segments.map((segment) => segment.file));
    for (const file of this.positions.keys()) if (!present.has(file)) this.positions.delete(file);
    for (const segment of segments) {
      let position = this.positions.get(segment.file);
      // A segment last written before the window holds nothing the window wants.
      if (position === undefined && segment.modifiedAt < since) position = segment.bytes;
      if (position === undefined || position > segment.bytes) position = 0;
      if (position < segment.bytes) position = await this.readFrom(segment.file, position, segment.bytes);
      this.positions.set(segment.file, position);
    }
    for (const [traceId, trace] of this.traces) if (trace.end < since) this.traces.delete(traceId);
    return [...this.traces].map(([traceId, trace]) => ({
      traceId,
      root: (trace.root ?? trace.first).name,
      durationMs: Math.round((trace.end - trace.start) * 1000) / 1000,
      services: trace.services,
    }));
  }

  /** Reads whole lines from `position` up to `end`; returns the position after the last one. */
  private async readFrom(file: string, position: number, end: number): Promise<number> {
    while (position < end) {
      const chunk = await this.files.read(file, position, Math.min(this.chunkBytes, end - position));
      if (chunk.length === 0) break;
      let last = chunk.lastIndexOf(NEWLINE);
      if (last === -1) {
        // A line longer than a chunk: read it whole, or wait for its end.
        if (position + chunk.length >= end) break;
        const whole = await this.files.read(file, position, end - position);
        last = whole.lastIndexOf(NEWLINE);
        if (last === -1) break;
        this.addLines(whole.subarray(0, last).toString('utf8'));
        position += last + 1;
        continue;
      }
      this.addLines(chunk.subarray(0, last).toString('utf8'));
      position += last + 1;
    }
    return position;
  }

  private addLines(text: string): void {
    for (const line of text.split('\n')) {
      if (!line) continue;
      let span: SpanLine;
      try {
        span = JSON.parse(line) as SpanLine;
      } catch {
        continue; // a torn line
      }
      if (typeof span.traceId !== 'string' || typeof span.start !== 'number' || typeof span.end !== 'number') continue;
      this.add(span.traceId, String(span.service ?? ''), String(span.name ?? ''), span.start, span.end, typeof span.parentSpanId === 'string' && span.parentSpanId !== '');
    }
  }

  private add(traceId: string, service: string, operation: string, start: number, end: number, hasParent: boolean): void {
    const name = `${service}: ${operation}`;
    let trace = this.traces.get(traceId);
    if (!trace) {
      if (this.traces.size >= this.maxTraces) this.traces.delete(this.traces.keys().next().value!);
      trace = { start, end, services: [], root: undefined, first: { start, name } };
      this.traces.set(traceId, trace);
    }
    trace.start = Math.min(trace.start, start);
    trace.end = Math.max(trace.end, end);
    if (!trace.services.includes(service)) trace.services.push(service);
    if (start < trace.first.start) trace.first = { start, name };
    if (!hasParent && (!trace.root || start < trace.root.start)) trace.root = { start, name };
  }
}
