/**
 * The dashboard's ink components. They render a DashboardSnapshot and the UI state (selection,
 * log pane) and nothing else: no fetch, no timers. Every line is cut to the given width, and
 * columns are dropped by priority when the terminal is narrow, so nothing wraps.
 * States are words (CLOSED, OPEN, HALF-OPEN; healthy, degraded…) so they read without colour.
 */
import { Box, Text } from 'ink';
import { createElement as h, memo, useMemo, type ReactElement } from 'react';
import { clockTime, makeChalk } from '../ui/colors';
import { terminalSafe } from '../core/terminal-text';
import { formatUptime } from '../ui/format';
import type { LogPart } from '../ui/log-line';
import type { Trace } from '../traces/store';
import { renderWaterfall } from '../traces/waterfall';
import { fit, formatMs } from '../ui/format';
import { formatBytes, formatRate, formatRetry } from './format';
import type { BreakerRow, BreakerState, ConsumerRow, DashboardSnapshot, DisplayState, GroupRow, KafkaView, ServiceRow, TopicRow } from './snapshot';

export interface DashboardViewProps {
  snapshot: DashboardSnapshot;
  width: number;
  height: number;
  color: boolean;
  /** Index into snapshot.services. */
  selected: number;
  showLogs: boolean;
  /** The selected service's last log lines. */
  logLines: readonly PaneLine[];
  /** Group whose partitions are listed; default: a group of the selected service. */
  selectedGroup?: string | null;
  /** A pane over the panels (`t`, `?`); null: none. */
  overlay?: DashboardOverlay | null;
  /** `msctl dev`: each watched service's last build and restart. */
  builds?: readonly BuildLine[];
}

/**
 * A line of the log pane: a log line's parts, which the pane styles itself, or text that is
 * already terminal-safe and keeps the colours it has.
 */
export type PaneLine = string | readonly LogPart[];

/** One service's line in `msctl dev`'s panel: what its last save did; `detail`, the compiler's first lines. */
export interface BuildLine {
  service: string;
  text: string;
  tone: 'ok' | 'busy' | 'error';
  detail?: readonly string[];
}

const BUILD_TONE = { ok: 'green', busy: 'yellow', error: 'red' } as const;

function buildsPanel(builds: readonly BuildLine[], width: number, color: boolean): ReactElement[] {
  const name = Math.max(...builds.map((line) => line.service.length));
  const lines = [h(Line, { key: 'bt', cells: [{ text: 'DEV', bold: true, color: 'cyan' }, { text: '  save a file to rebuild and restart what it affects' }], width, color })];
  for (const line of builds) {
    lines.push(h(Line, { key: `b${line.service}`, cells: [{ text: `  ${line.service.padEnd(name)}  `, bold: true }, { text: line.text, color: BUILD_TONE[line.tone] }], width, color }));
    (line.detail ?? []).slice(0, 3).forEach((text, i) => lines.push(h(Line, { key: `b${line.service}${i}`, cells: [{ text: `    ${text}`, color: 'gray' }], width, color })));
  }
  return lines;
}

/**
 * What `t` and `?` open over the panels: the list of keys, or the selected service's slowest
 * recent trace (its id from the snapshot; `trace` once read, `missing` when it is no longer
 * stored, `error` when it could not be read).
 */
export type DashboardOverlay =
  | { kind: 'keys' }
  | { kind: 'trace'; service: string; traceId: string | null; trace?: Trace; missing?: boolean; error?: string };

/** Every key, as `?` lists them (and docs/dashboard.md). */
export const DASHBOARD_KEYS: ReadonlyArray<{ keys: string; what: string }> = [
  { keys: '↑/↓  k/j', what: 'select a service' },
  { keys: 'l', what: 'show or hide the selected service’s log' },
  { keys: 'g', what: 'list the partitions of the next consumer group' },
  { keys: 't', what: 'the selected service’s slowest trace of the last 5 minutes, as a waterfall (t or Esc closes it)' },
  { keys: 'r', what: 'restart the selected service' },
  { keys: '?', what: 'this list (? or Esc closes it)' },
  { keys: 'q  Esc', what: 'quit (Esc first closes an open trace or this list)' },
  { keys: 'Ctrl-C', what: 'quit' },
];

type Color = 'green' | 'red' | 'yellow' | 'gray' | 'cyan' | 'blue' | 'magenta';

const STATE_COLORS: Record<DisplayState, Color> = {
  healthy: 'green',
  degraded: 'yellow',
  unhealthy: 'red',
  starting: 'yellow',
  restarting: 'yellow',
  stopping: 'yellow',
  stopped: 'gray',
  failed: 'red',
};

const BREAKER_COLORS: Record<BreakerState, Color> = { closed: 'green', open: 'red', 'half-open': 'yellow' };

interface Cell {
  text: string;
  color?: Color | undefined;
  bold?: boolean;
  dim?: boolean;
}

interface Column<R> {
  title: string;
  width: number;
  align?: 'left' | 'right';
  /** Lower stays longer when the terminal is narrow. */
  priority: number;
  cell: (row: R) => Cell;
}

const GAP = 2;
const MARKER = 2; // "› " before the selected row

/** The columns that fit in `width`, kept in their order; the lowest priorities first. */
export function fitColumns<R>(columns: Array<Column<R>>, width: number): Array<Column<R>> {
  const byPriority = [...columns].sort((a, b) => a.priority - b.priority);
  const kept = new Set<Column<R>>();
  let used = MARKER;
  for (const column of byPriority) {
    const need = (kept.size === 0 ? 0 : GAP) + column.width;
    if (used + need > width) {
      if (kept.size === 0) kept.add(column); // the first column always shows (cut to the width below)
      continue;
    }
    kept.add(column);
    used += need;
  }
  return columns.filter((column) => kept.has(column));
}

interface LineProps {
  cells: readonly Cell[];
  width: number;
  color: boolean;
  selected?: boolean;
  dim?: boolean;
}

/** One terminal line: a single Text (its coloured parts are nested, virtual texts: no layout nodes of their own). */
function LineText({ cells, width, color, selected, dim }: LineProps): ReactElement {
  let left = width;
  const parts: Array<ReactElement | string> = [];
  cells.forEach((cell, i) => {
    if (left <= 0) return;
    // Service names, breaker names and health outputs come from the services.
    const text = [...terminalSafe(cell.text)].slice(0, left).join('');
    left -= [...text].length;
    const styled = color && (cell.color !== undefined || cell.bold || cell.dim || dim || selected);
    parts.push(styled ? h(Text, { key: i, color: cell.color, bold: cell.bold, dimColor: dim || cell.dim, inverse: selected }, text) : text);
  });
  return h(Text, { wrap: 'truncate-end' }, ...parts);
}

const sameCells = (a: readonly Cell[], b: readonly Cell[]) =>
  a === b || (a.length === b.length && a.every((cell, i) => cell.text === b[i]!.text && cell.color === b[i]!.color && cell.bold === b[i]!.bold && cell.dim === b[i]!.dim));

/** A line whose text and styles did not change is not rendered again. */
const Line = memo(LineText, (a, b) => a.width === b.width && a.color === b.color && a.selected === b.selected && a.dim === b.dim && sameCells(a.cells, b.cells));

function table<R>(columns: Array<Column<R>>, width: number): { header: Cell[]; row: (r: R, selected: boolean) => Cell[] } {
  const fitted = fitColumns(columns, width);
  const cells = (produce: (column: Column<R>, i: number) => Cell, selected: boolean): Cell[] => {
    const out: Cell[] = [{ text: selected ? '› ' : '  ' }];
    fitted.forEach((column, i) => {
      if (i > 0) out.push({ text: ' '.repeat(GAP) });
      const cell = produce(column, i);
      out.push({ ...cell, text: fit(cell.text, Math.min(column.width, Math.max(1, width - MARKER)), column.align) });
    });
    return out;
  };
  return {
    header: cells((column) => ({ text: column.title, bold: true }), false),
    row: (r, selected) => cells((column) => column.cell(r), selected),
  };
}

const nameWidth = (names: string[], min: number, max: number) => Math.min(max, Math.max(min, ...names.map((n) => [...n].length)));

function serviceColumns(services: readonly ServiceRow[]): Array<Column<ServiceRow>> {
  return [
    { title: 'NAME', width: nameWidth(services.map((s) => s.name), 4, 20), priority: 0, cell: (s) => ({ text: s.name }) },
    { title: 'RUNTIME', width: 7, priority: 6, cell: (s) => ({ text: s.runtime }) },
    { title: 'STATE', width: 10, priority: 0, cell: (s) => ({ text: s.state, color: STATE_COLORS[s.state] }) },
    { title: 'UPTIME', width: 7, align: 'right', priority: 3, cell: (s) => ({ text: formatUptime(s.uptimeSeconds) }) },
    { title: 'RESTARTS', width: 8, align: 'right', priority: 5, cell: (s) => ({ text: String(s.restarts), color: s.restarts > 0 ? 'yellow' : undefined }) },
    { title: 'REQ/S', width: 6, align: 'right', priority: 1, cell: (s) => ({ text: s.kind === 'service' ? formatRate(s.requestsPerSecond) : '' }) },
    { title: 'P99', width: 7, align: 'right', priority: 2, cell: (s) => ({ text: s.kind === 'service' ? formatMs(s.p99Ms) : '' }) },
    { title: 'MEM', width: 6, align: 'right', priority: 4, cell: (s) => ({ text: s.kind === 'service' ? formatBytes(s.memoryBytes) : '' }) },
  ];
}

function breakerColumns(breakers: readonly BreakerRow[], width: number): Array<Column<BreakerRow>> {
  const widest = width >= 120 ? 28 : 18;
  return [
    { title: 'SERVICE', width: nameWidth(breakers.map((b) => b.service), 7, widest), priority: 0, cell: (b) => ({ text: b.service }) },
    { title: 'BREAKER', width: nameWidth(breakers.map((b) => b.name), 7, widest), priority: 0, cell: (b) => ({ text: b.name }) },
    { title: 'STATE', width: 9, priority: 0, cell: (b) => ({ text: b.state.toUpperCase(), color: BREAKER_COLORS[b.state], bold: b.state !== 'closed' }) },
    { title: 'FAILURES', width: 8, align: 'right', priority: 2, cell: (b) => ({ text: b.failures === null ? '-' : String(b.failures), color: (b.failures ?? 0) > 0 ? 'red' : undefined }) },
    { title: 'REJECTS', width: 7, align: 'right', priority: 3, cell: (b) => ({ text: b.rejects === null ? '-' : String(b.rejects), color: (b.rejects ?? 0) > 0 ? 'yellow' : undefined }) },
    { title: 'RETRY', width: 12, priority: 1, cell: (b) => ({ text: formatRetry(b.retryInMs) }) },
  ];
}

function topicColumns(topics: readonly TopicRow[]): Array<Column<TopicRow>> {
  return [
    { title: 'TOPIC', width: nameWidth(topics.map((t) => t.topic), 5, 28), priority: 0, cell: (t) => ({ text: t.topic }) },
    { title: 'MSG/S IN', width: 8, align: 'right', priority: 0, cell: (t) => ({ text: formatRate(t.messagesPerSecond) }) },
    { title: 'PARTS', width: 5, align: 'right', priority: 2, cell: (t) => ({ text: String(t.partitions) }) },
    { title: 'END OFFSET', width: 10, align: 'right', priority: 1, cell: (t) => ({ text: String(t.endOffset) }) },
  ];
}

/** A group's own word, from the consumers that run it: the worst of its members. */
function consumerState(consumers: readonly ConsumerRow[]): Cell {
  if (consumers.length === 0) return { text: '-' };
  if (consumers.some((c) => c.status === 'fail')) return { text: 'STOPPED', color: 'red', bold: true };
  if (consumers.some((c) => c.status === 'warn')) return { text: 'STALLED', color: 'yellow', bold: true };
  return { text: 'moving', color: 'green' };
}

function groupColumns(groups: readonly GroupRow[], consumers: readonly ConsumerRow[]): Array<Column<GroupRow>> {
  const of = (g: GroupRow) => consumers.filter((c) => c.group === g.group);
  return [
    { title: 'GROUP', width: nameWidth(groups.map((g) => g.group), 5, 28), priority: 0, cell: (g) => ({ text: g.group }) },
    { title: 'LAG', width: 8, align: 'right', priority: 0, cell: (g) => ({ text: String(g.lag), color: g.lag > 0 ? 'yellow' : undefined }) },
    { title: 'CONSUMER', width: 8, priority: 1, cell: (g) => consumerState(of(g)) },
    { title: 'DLQ 5M', width: 6, align: 'right', priority: 2, cell: (g) => {
      const dead = of(g).reduce((sum, c) => sum + c.deadLetters5m, 0);
      return { text: String(dead), color: dead > 0 ? 'red' : undefined };
    } },
    { title: 'PARTITIONS', width: 10, align: 'right', priority: 3, cell: (g) => ({ text: String(g.partitions.length) }) },
  ];
}

const title = (text: string, width: number, color: boolean) => h(Line, { cells: [{ text: fit(text, width).trimEnd(), bold: true, color: 'cyan' }], width, color });

/** The group shown per partition: the chosen one, else one the selected service consumes with. */
export function groupFor(snapshot: DashboardSnapshot, selected: number, chosen?: string | null): GroupRow | undefined {
  const groups = snapshot.kafka.groups;
  if (chosen) return groups.find((g) => g.group === chosen);
  const service = snapshot.services[selected];
  if (!service) return undefined;
  return groups.find((g) => service.groups.includes(g.group)) ?? groups.find((g) => g.group === service.name || g.group.endsWith(`.${service.name}`) || g.group.includes(service.name));
}

/** A panel's lines; keys are the panel's letter and the line's index, unique in the whole view. */
const keyed = (prefix: string, lines: ReactElement[]) => lines.map((line, i) => h(Line, { ...(line.props as LineProps), key: `${prefix}${i}` }));

function servicesPanel(services: readonly ServiceRow[], selected: number, width: number, color: boolean): ReactElement[] {
  const t = table(serviceColumns(services), width);
  const lines = [title('SERVICES', width, color), h(Line, { cells: t.header, width, color })];
  services.forEach((service, i) => lines.push(h(Line, { cells: t.row(service, i === selected), width, color, selected: i === selected })));
  if (services.length === 0) lines.push(h(Line, { cells: [{ text: '  nothing runs: start the stack with msctl up' }], width, color }));
  return keyed('s', lines);
}

/** Circuit breakers: all of them, or only the ones not closed when the log pane needs the room. */
function breakersPanel(breakers: readonly BreakerRow[], compact: boolean, width: number, color: boolean): ReactElement[] {
  const shown = compact ? breakers.filter((b) => b.state !== 'closed') : breakers;
  const closedHidden = breakers.length - shown.length;
  const lines = [title(`CIRCUIT BREAKERS${closedHidden > 0 ? ` (${closedHidden} more CLOSED)` : ''}`, width, color)];
  if (shown.length > 0) {
    const t = table(breakerColumns(shown, width), width);
    lines.push(h(Line, { cells: t.header, width, color }));
    shown.forEach((breaker) => lines.push(h(Line, { cells: t.row(breaker, false), width, color })));
  } else if (breakers.length === 0) {
    lines.push(h(Line, { cells: [{ text: '  none reported' }], width, color }));
  }
  return keyed('b', lines);
}

function kafkaPanel(kafka: KafkaView, consumers: readonly ConsumerRow[], group: GroupRow | undefined, compact: boolean, width: number, color: boolean): ReactElement[] {
  const lines = [title(`KAFKA${kafka.error ? ` · unreachable: ${kafka.error}` : kafka.at ? '' : ' · reading…'}`, width, color)];
  if (kafka.topics.length > 0) {
    const topics = table(topicColumns(kafka.topics), width);
    lines.push(h(Line, { cells: topics.header, width, color }));
    kafka.topics.forEach((topic) => lines.push(h(Line, { cells: topics.row(topic, false), width, color })));
  }
  if (kafka.groups.length > 0) {
    const groups = table(groupColumns(kafka.groups, consumers), width);
    lines.push(h(Line, { cells: groups.header, width, color }));
    kafka.groups.forEach((g) => lines.push(h(Line, { cells: groups.row(g, g === group), width, color, selected: g === group })));
    // Why a consumer is not moving: its partition, offset and error, as it reports them.
    for (const consumer of consumers.filter((c) => c.output !== null)) {
      lines.push(h(Line, { cells: [{ text: `  ${consumer.service}: ${consumer.output}`, color: consumer.status === 'fail' ? 'red' : 'yellow' }], width, color }));
    }
    if (group && !compact) {
      const parts = group.partitions.map((p) => `${p.topic}[${p.partition}] ${p.lag}`).join('  ');
      lines.push(h(Line, { cells: [{ text: `  ${group.group} lag per partition: `, bold: true }, { text: parts }], width, color }));
    }
  }
  return keyed('k', lines);
}

function keysPanel(width: number, color: boolean): ReactElement[] {
  const keyWidth = Math.max(...DASHBOARD_KEYS.map((k) => [...k.keys].length));
  return keyed('?', [
    title('KEYS', width, color),
    ...DASHBOARD_KEYS.map((k) => h(Line, { cells: [{ text: `  ${k.keys.padEnd(keyWidth)}  `, bold: true }, { text: k.what }], width, color })),
  ]);
}

/** The trace pane: the waterfall `msctl traces <id>` draws, cut to `room` lines. */
function tracePanel(overlay: Extract<DashboardOverlay, { kind: 'trace' }>, room: number, width: number, color: boolean): ReactElement[] {
  const lines: ReactElement[] = [h(Line, { key: 'tt', cells: [{ text: `TRACE · the slowest of ${overlay.service} in the last 5 minutes`, bold: true, color: 'cyan' }], width, color })];
  const say = (text: string) => lines.push(h(Line, { key: `ts${lines.length}`, cells: [{ text: `  ${text}` }], width, color }));
  if (!overlay.traceId) say(`no trace of ${overlay.service} in the last 5 minutes: send it a request, or select another service`);
  else if (overlay.error) say(`could not read trace ${overlay.traceId}: ${overlay.error}`);
  else if (overlay.missing) say(`trace ${overlay.traceId} is no longer stored (the store keeps the most recent 64 MiB)`);
  else if (!overlay.trace) say(`reading trace ${overlay.traceId}…`);
  else {
    const drawn = renderWaterfall(overlay.trace, { c: makeChalk(color), width }).split('\n');
    const fits = Math.max(1, room - 2);
    const cut = drawn.length > fits ? drawn.slice(0, fits - 1) : drawn;
    // renderWaterfall made the senders' texts terminal-safe; its colours stay.
    cut.forEach((text, i) => lines.push(h(Text, { key: `w${i}`, wrap: 'truncate-end' }, text)));
    if (cut.length < drawn.length) say(`… ${drawn.length - cut.length} more lines: msctl traces ${overlay.traceId}`);
  }
  return lines;
}

export function DashboardView(props: DashboardViewProps): ReactElement {
  const { snapshot, color, selected, showLogs } = props;
  const width = Math.max(20, props.width);
  const height = Math.max(10, props.height);
  const compact = showLogs || height < 30;

  // Each panel is built again only when its part of the snapshot changed (the poller keeps an
  // unchanged part's object); an idle stack redraws the clock and the services' figures only.
  const services = useMemo(() => servicesPanel(snapshot.services, selected, width, color), [snapshot.services, selected, width, color]);
  const breakers = useMemo(() => breakersPanel(snapshot.breakers, compact, width, color), [snapshot.breakers, compact, width, color]);
  const group = groupFor(snapshot, selected, props.selectedGroup);
  const kafka = useMemo(() => kafkaPanel(snapshot.kafka, snapshot.consumers, group, compact, width, color), [snapshot.kafka, snapshot.consumers, group, compact, width, color]);

  // Header
  const project = snapshot.project.split('/').filter(Boolean).at(-1) ?? '';
  const sup = snapshot.supervisor === 'running' ? 'supervisor running' : snapshot.supervisor === 'stale' ? 'supervisor GONE' : 'not running';
  const header = h(Line, {
    key: 'h',
    cells: [{ text: 'msctl dashboard', bold: true }, { text: ` · ${project} · ${sup} · ${clockTime(snapshot.at)}` }, ...(snapshot.error ? [{ text: ` · ${snapshot.error}`, color: 'red' as const }] : [])],
    width,
    color,
  });
  const lines: ReactElement[] = [header, ...services, ...breakers, ...kafka];

  // Recent changes: the newest that fit, up to five lines (two when the log pane is open).
  const changeLines = Math.max(1, Math.min(showLogs ? 2 : 5, height - lines.length - 3));
  const recent = snapshot.changes.slice(-changeLines).map((c) => `${clockTime(c.at)} ${c.text}`);
  const footer: ReactElement[] = props.builds && props.builds.length > 0 ? buildsPanel(props.builds, width, color) : [];
  footer.push(h(Line, { key: 'ct', cells: [{ text: 'RECENT CHANGES', bold: true, color: 'cyan' }, { text: snapshot.changes.length === 0 ? '  none yet' : '' }], width, color }));
  recent.forEach((text, i) =>
    footer.push(h(Line, { key: `c${i}`, cells: [{ text: `  ${text}`, color: /\b(OPEN|unhealthy|failed|stopped|dead-lettered)\b/.test(text) ? 'red' : /\b(HALF-OPEN|degraded|restart|stalled)/.test(text) ? 'yellow' : undefined }], width, color })),
  );
  if (snapshot.slowestTraces.length > 0) {
    const slowest = snapshot.slowestTraces.map((t) => `${t.service} ${formatTraceMs(t.durationMs)} (${t.traceId.slice(0, 8)})`).join('  ');
    footer.push(h(Line, { key: 'st', cells: [{ text: 'SLOWEST TRACES (5m) ', bold: true, color: 'cyan' }, { text: slowest }], width, color }));
  }
  footer.push(h(Line, { key: 'keys', cells: [{ text: '↑/↓ select  l logs  g group  t trace  r restart  ? keys  q quit', color: 'gray' }], width, color }));

  // A pane opened by a key takes the panels' place; the header and the footer stay.
  const overlay = props.overlay;
  if (overlay) {
    const room = height - 1 - footer.length;
    const pane = overlay.kind === 'keys' ? keysPanel(width, color) : tracePanel(overlay, room, width, color);
    return h(Box, { flexDirection: 'column', width }, header, ...pane.slice(0, room), ...footer);
  }

  // Never taller than the terminal (ink would then clear the screen at every frame): the
  // panels lower down give way first, the services stay.
  const logMinimum = showLogs ? 4 : 0;
  const fits = height - 1 - footer.length - logMinimum;
  if (lines.length > fits) {
    lines.length = Math.max(1, fits - 1);
    lines.push(h(Line, { key: 'more', cells: [{ text: '  … (a taller terminal shows more)', color: 'gray' }], width, color }));
  }

  // Log pane: whatever height is left.
  const logs: ReactElement[] = [];
  if (showLogs) {
    const name = snapshot.services[selected]?.name ?? '';
    const room = Math.max(3, height - 1 - lines.length - footer.length - 1);
    logs.push(h(Line, { key: 'lt', cells: [{ text: `LOGS ${name}`, bold: true, color: 'cyan' }, { text: props.logLines.length === 0 ? '  (no lines yet)' : '' }], width, color }));
    // A log line's parts are cells of a line: ink styles them, with no escape sequences to parse on every frame.
    props.logLines.slice(-room).forEach((line, i) => logs.push(typeof line === 'string' ? h(Text, { key: `l${i}`, wrap: 'truncate-end' }, line) : h(Line, { key: `l${i}`, cells: line, width, color })));
  }

  return h(Box, { flexDirection: 'column', width }, ...lines, ...logs, ...footer);
}

const formatTraceMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms)}ms`);
