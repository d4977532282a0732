/**
 * One trace as rows in tree order (each span under its parent, siblings by start time) and
 * drawn as a terminal waterfall: service, operation, start offset, duration, a bar on the
 * trace's time axis, errors. A Kafka hop (a consumer span under a producer span) shows its
 * queueing delay, consume start − produce end, as a dotted gap before the bar.
 */
import type { ChalkInstance } from 'chalk';
import { colorForTarget } from '../ui/colors';
import { fit, formatMs } from '../ui/format';
import { terminalSafe } from '../core/terminal-text';
import type { StoredSpan } from './otlp';
import { rootOf, summarize, type Trace } from './store';

/** A span's times keep three digits: a 0.42 ms hop and a 420 ms one both read. */
const spanMs = (ms: number) => formatMs(ms, 3);

export interface WaterfallRow {
  span: StoredSpan;
  depth: number;
  /** From the trace's first span start. */
  offsetMs: number;
  durationMs: number;
  /** Consumer span under a producer span: consume start − produce end. */
  queueMs?: number;
  /** Whose end the queue is measured from (the producer span). */
  queueFromMs?: number;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export function waterfallRows(trace: Trace): WaterfallRow[] {
  const start = Math.min(...trace.spans.map((span) => span.start));
  const byId = new Map(trace.spans.map((span) => [span.spanId, span]));
  const children = new Map<string, StoredSpan[]>();
  const roots: StoredSpan[] = [];
  for (const span of trace.spans) {
    if (span.parentSpanId && byId.has(span.parentSpanId)) {
      const list = children.get(span.parentSpanId) ?? [];
      list.push(span);
      children.set(span.parentSpanId, list);
    } else roots.push(span);
  }
  const byStart = (a: StoredSpan, b: StoredSpan) => a.start - b.start || a.end - b.end;
  const rows: WaterfallRow[] = [];
  const visit = (span: StoredSpan, depth: number) => {
    const row: WaterfallRow = { span, depth, offsetMs: round(span.start - start), durationMs: round(span.end - span.start) };
    const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
    if (span.kind === 'consumer' && parent?.kind === 'producer') {
      row.queueMs = round(span.start - parent.end);
      row.queueFromMs = round(parent.end - start);
    }
    rows.push(row);
    for (const child of (children.get(span.spanId) ?? []).sort(byStart)) visit(child, depth + 1);
  };
  // The root first; spans whose parent never arrived after it, by start.
  const root = rootOf(trace);
  for (const span of [root, ...roots.filter((s) => s !== root).sort(byStart)]) visit(span, 0);
  return rows;
}

export interface WaterfallOptions {
  /** Terminal columns (default 120). */
  width?: number;
  c: ChalkInstance;
}

/** A span's texts as any OTLP sender wrote them, without what a terminal would execute. */
export function terminalSafeSpan(span: StoredSpan): StoredSpan {
  return {
    ...span,
    name: terminalSafe(span.name),
    service: terminalSafe(span.service),
    ...(span.statusMessage !== undefined ? { statusMessage: terminalSafe(span.statusMessage) } : {}),
    ...(span.exceptions ? { exceptions: span.exceptions.map((text) => terminalSafe(text)) } : {}),
  };
}

export function renderWaterfall(received: Trace, options: WaterfallOptions): string {
  const { c } = options;
  const trace = { ...received, spans: received.spans.map(terminalSafeSpan) };
  const width = Math.max(80, options.width ?? 120);
  const summary = summarize(trace);
  const rows = waterfallRows(trace);
  const total = Math.max(summary.durationMs, 0.001);
  const serviceWidth = Math.min(18, Math.max(7, ...rows.map((row) => row.span.service.length)));
  const operationWidth = Math.min(44, Math.max(9, ...rows.map((row) => row.depth * 2 + 2 + [...row.span.name].length)));
  const numberWidth = 9;
  const suffixWidth = 18; // "  queued 123.4ms"
  const barWidth = Math.max(10, width - serviceWidth - operationWidth - numberWidth * 2 - suffixWidth - 4);
  const scale = barWidth / total;

  const lines: string[] = [];
  lines.push(
    `${c.bold(`trace ${summary.traceId}`)}  ${spanMs(summary.durationMs)}  ${summary.spanCount} spans  ${summary.services.length} services` +
      (summary.errors > 0 ? `  ${c.red(`${summary.errors} error${summary.errors === 1 ? '' : 's'}`)}` : ''),
  );
  lines.push(c.dim(`started ${summary.start}  root ${summary.root}`));
  lines.push('');
  lines.push(
    c.bold(
      `${'SERVICE'.padEnd(serviceWidth)} ${'OPERATION'.padEnd(operationWidth)} ${'START'.padStart(numberWidth)} ${'DURATION'.padStart(numberWidth)} ` +
        `0${' '.repeat(Math.max(0, barWidth - 1 - spanMs(total).length))}${spanMs(total)}`,
    ),
  );
  for (const row of rows) {
    const failed = row.span.status === 'error';
    const marker = failed ? '✗ ' : '  ';
    const operation = fit(`${' '.repeat(row.depth * 2)}${marker}${row.span.name}`, operationWidth);
    const from = Math.min(barWidth - 1, Math.floor(row.offsetMs * scale));
    const length = Math.max(1, Math.min(barWidth - from, Math.round(row.durationMs * scale)));
    let gap = 0;
    let gapFrom = from;
    if (row.queueMs !== undefined && row.queueFromMs !== undefined && row.queueMs > 0) {
      gapFrom = Math.min(from, Math.max(0, Math.floor(row.queueFromMs * scale)));
      gap = from - gapFrom;
    }
    const paint = failed ? c.red : c[colorForTarget(row.span.service)];
    const bar = ' '.repeat(gapFrom) + c.dim('·'.repeat(gap)) + paint('█'.repeat(length)) + ' '.repeat(Math.max(0, barWidth - gapFrom - gap - length));
    const queued = row.queueMs !== undefined ? c.yellow(`  queued ${spanMs(Math.max(0, row.queueMs))}`) : '';
    lines.push(
      `${c[colorForTarget(row.span.service)](fit(row.span.service, serviceWidth))} ${failed ? c.red(operation) : operation} ` +
        `${spanMs(row.offsetMs).padStart(numberWidth)} ${spanMs(row.durationMs).padStart(numberWidth)} ${bar}${queued}`.trimEnd(),
    );
    if (failed) {
      const why = [row.span.statusMessage, ...(row.span.exceptions ?? [])].filter((text, i, all) => text && all.indexOf(text) === i).join('; ');
      if (why) lines.push(c.red(`${' '.repeat(serviceWidth + 1 + row.depth * 2)}  ↳ ${why}`));
    }
  }
  const hops = rows.filter((row) => row.queueMs !== undefined);
  if (hops.length > 0) {
    lines.push('');
    lines.push(
      c.dim(
        `Kafka hops: ${hops
          .map((row) => `${row.span.name.replace(/^process /, '')} → ${row.span.service} queued ${spanMs(Math.max(0, row.queueMs!))}`)
          .join(', ')}`,
      ),
    );
  }
  return lines.join('\n');
}
