/**
 * `msctl traces [id]`: the recent traces the local receiver stored under `.msctl/traces/`
 * (newest first: root operation, services, spans, duration, errors), filtered by
 * `--service`, `--min-duration 50ms`, `--since 5m`; `msctl traces <id>` (or a unique prefix)
 * draws one as a waterfall. `--json`: `{ traces: [...] }`, or `{ traceId, summary, spans }`.
 */
import { join } from 'node:path';
import { parseDuration, parseTimeOrAgo } from '../../../core/duration';
import { MsctlError } from '../../../core/errors';
import { terminalSafe } from '../../../core/terminal-text';
import { loadProject, readStackSettings } from '../../../stack/project';
import { listSegments, listTraces, readSpans, findTrace, summarize } from '../../../traces/store';
import { renderWaterfall, waterfallRows } from '../../../traces/waterfall';
import { formatMs } from '../../../ui/format';
import type { CliContext } from '../../context';
import type { TracesOptions } from './command';
import { clockTime, colorForTarget, makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

/** What gets traced, in words: services sample, and a request may ask to be traced. */
export function samplingNote(tracesPerSecond: number | 'all' | undefined): string {
  if (tracesPerSecond === 'all') return 'every request is traced (tracesPerSecond "all" in .msctl/settings.json)';
  const rate = tracesPerSecond ?? 10;
  return (
    `sampled: up to ${rate} new trace${rate === 1 ? '' : 's'} a second per service, and every request sent with a sampled traceparent header ` +
    '(00-<32 hex>-<16 hex>-01); set "tracesPerSecond": "all" in .msctl/settings.json and restart to trace everything'
  );
}

export async function run(options: TracesOptions, context: CliContext): Promise<number> {
  const project = await loadProject(context.projectDir);
  const dir = join(project.stateDir, 'traces');
  const c = makeChalk(context.color && !context.json);
  const minDurationMs = options.minDuration !== undefined ? parseDuration(options.minDuration, '--min-duration') : undefined;
  const since = options.since !== undefined ? parseTimeOrAgo(options.since, '--since').getTime() : undefined;

  if ((await listSegments(dir)).length === 0) {
    throw new MsctlError(
      'NOT_RUNNING',
      `no traces recorded yet in ${dir}`,
      'start the stack with `msctl up` and send it a request; with OTEL_EXPORTER_OTLP_ENDPOINT set, spans go to that collector instead',
    );
  }
  // A segment last written before --since holds no span that started after it.
  const spans = await readSpans(dir, since !== undefined ? { since } : {});

  if (options.id !== undefined) {
    if (!/^[\da-f]{1,32}$/i.test(options.id)) throw new MsctlError('USAGE', `${options.id} is not a trace id`, 'a trace id is 32 hex digits (a unique prefix will do)');
    const { trace, candidates } = findTrace(spans, options.id);
    if (!trace) {
      throw new MsctlError(
        'TRACE_NOT_FOUND',
        candidates.length > 1 ? `${options.id} names ${candidates.length} traces: ${candidates.slice(0, 5).join(', ')}` : `no trace ${options.id} in ${dir}`,
        candidates.length > 1
          ? 'give more digits of the id'
          : `\`msctl traces\` lists the recent ones (the store keeps the most recent 64 MiB); ${samplingNote(readStackSettings(project.stateDir).tracesPerSecond)}`,
      );
    }
    if (context.json) {
      const rows = waterfallRows(trace);
      context.stdout.write(
        `${JSON.stringify(
          {
            traceId: trace.traceId,
            summary: summarize(trace),
            spans: rows.map((row) => ({
              ...row.span,
              depth: row.depth,
              offsetMs: row.offsetMs,
              durationMs: row.durationMs,
              ...(row.queueMs !== undefined ? { queueMs: row.queueMs } : {}),
            })),
          },
          null,
          2,
        )}\n`,
      );
    } else {
      context.stdout.write(`${renderWaterfall(trace, { c, width: context.stdout.columns ?? 120 })}\n`);
    }
    return 0;
  }

  const traces = listTraces(spans, { service: options.service, minDurationMs, since, limit: options.limit });
  if (context.json) {
    context.stdout.write(`${JSON.stringify({ traces }, null, 2)}\n`);
    return 0;
  }
  if (traces.length === 0) {
    context.stdout.write('no traces match\n');
    return 0;
  }
  // Services and operations are named by whoever sent the spans.
  const rows = traces.map((trace) => [
    trace.traceId,
    clockTime(trace.start, true),
    `${c[colorForTarget(trace.rootService)](terminalSafe(trace.rootService))}: ${terminalSafe(trace.rootOperation)}`,
    trace.services.map((service) => c[colorForTarget(service)](terminalSafe(service))).join(','),
    String(trace.spanCount),
    formatMs(trace.durationMs, 3),
    trace.errors > 0 ? c.red(String(trace.errors)) : '0',
  ]);
  context.stdout.write(
    `${formatTable(rows, {
      header: ['TRACE', 'STARTED', 'ROOT', 'SERVICES', 'SPANS', 'DURATION', 'ERRORS'],
      align: ['left', 'left', 'left', 'left', 'right', 'right', 'right'],
      color: context.color,
    })}\n`,
  );
  const note = samplingNote(readStackSettings(project.stateDir).tracesPerSecond);
  context.stdout.write(c.dim(`\n${traces.length} trace${traces.length === 1 ? '' : 's'}; \`msctl traces <id>\` draws one\n${note}\n`));
  return 0;
}
