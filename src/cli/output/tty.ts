/**
 * The TTY view (ink): one line per target with a spinner while it is busy, ✔ when healthy or
 * running, ✖ when failed, the detail dimmed; log lines and messages scroll above it.
 * This is the only module that loads ink and React; it is reached through a dynamic import
 * only, so `msctl --help` never loads them. Not a TTY → the plain renderer.
 */
import { Box, Static, Text, render, useAnimation } from 'ink';
import { createElement as h, useSyncExternalStore, type ReactElement } from 'react';
import type { ProgressBus, ProgressEvent, TargetPhase } from '../../core/events';
import { colorForTarget, makeChalk } from '../../ui/colors';
import { prettyLine } from '../../ui/log-line';
import { createPlainRenderer } from './plain';
import type { ProgressRenderer, TextOut } from './renderer';

export interface TargetView {
  name: string;
  phase: TargetPhase;
  detail?: string;
}

export interface ScrollLine {
  id: number;
  kind: 'log' | 'info' | 'warn' | 'error';
  target?: string;
  text: string;
}

export interface ProgressSnapshot {
  targets: TargetView[];
  lines: ScrollLine[];
  done?: { ok: boolean; text: string };
}

/** Folds events into the view's state; the component reads it with useSyncExternalStore, so no event is lost before mount. */
export class ProgressStore {
  private snapshot: ProgressSnapshot = { targets: [], lines: [] };
  private readonly listeners = new Set<() => void>();
  private nextId = 0;

  apply = (event: ProgressEvent): void => {
    const s = this.snapshot;
    switch (event.type) {
      case 'target': {
        const view: TargetView = { name: event.target, phase: event.phase, ...(event.detail ? { detail: event.detail } : {}) };
        const index = s.targets.findIndex((t) => t.name === event.target);
        const targets = index === -1 ? [...s.targets, view] : s.targets.map((t, i) => (i === index ? view : t));
        this.snapshot = { ...s, targets };
        break;
      }
      case 'log':
        this.snapshot = { ...s, lines: [...s.lines, { id: this.nextId++, kind: 'log', target: event.target, text: event.line }] };
        break;
      case 'message':
        this.snapshot = { ...s, lines: [...s.lines, { id: this.nextId++, kind: event.level, text: event.text }] };
        break;
      case 'done':
        this.snapshot = { ...s, done: { ok: event.ok, text: event.text } };
        break;
    }
    for (const listener of this.listeners) listener();
  };

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): ProgressSnapshot => this.snapshot;
}

const BUSY: ReadonlySet<TargetPhase> = new Set(['starting', 'waiting', 'building', 'stopping', 'restarting']);
const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

function icon(phase: TargetPhase, frame: number): { glyph: string; color?: string } {
  if (BUSY.has(phase)) return { glyph: SPINNER[frame % SPINNER.length]!, color: 'yellow' };
  if (phase === 'healthy' || phase === 'running') return { glyph: '✔', color: 'green' };
  if (phase === 'failed' || phase === 'unhealthy') return { glyph: '✖', color: 'red' };
  if (phase === 'built' || phase === 'stopped') return { glyph: '✔', color: 'gray' };
  return { glyph: '·', color: 'gray' };
}

function TargetLine({ target, width, frame }: { target: TargetView; width: number; frame: number }): ReactElement {
  const { glyph, color } = icon(target.phase, frame);
  return h(
    Box,
    null,
    h(Text, { color }, glyph),
    h(Text, null, ' '),
    h(Text, { color: colorForTarget(target.name) }, target.name.padEnd(width)),
    h(Text, null, '  '),
    h(Text, null, target.phase),
    target.detail ? h(Text, { dimColor: true }, `  ${target.detail}`) : null,
  );
}

function ScrollLineView({ line, width }: { line: ScrollLine; width: number }): ReactElement {
  if (line.kind === 'log') {
    return h(Text, null, h(Text, { color: colorForTarget(line.target ?? '') }, (line.target ?? '').padEnd(width)), ` | ${line.text}`);
  }
  if (line.kind === 'info') return h(Text, null, line.text);
  return h(Text, null, h(Text, { color: line.kind === 'warn' ? 'yellow' : 'red' }, `${line.kind}:`), ` ${line.text}`);
}

/** The view itself; exported for ink-testing-library. */
export function ProgressView({ store }: { store: ProgressStore }): ReactElement {
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot);
  const busy = snapshot.targets.some((t) => BUSY.has(t.phase));
  const { frame } = useAnimation({ interval: 80, isActive: busy });
  const width = Math.max(10, ...snapshot.targets.map((t) => t.name.length), ...snapshot.lines.map((l) => l.target?.length ?? 0));
  return h(
    Box,
    { flexDirection: 'column' },
    h(Static<ScrollLine>, { items: snapshot.lines, children: (line) => h(ScrollLineView, { key: line.id, line, width }) }),
    ...snapshot.targets.map((target) => h(TargetLine, { key: target.name, target, width, frame })),
    snapshot.done ? h(Text, { color: snapshot.done.ok ? 'green' : 'red' }, `${snapshot.done.ok ? '✔' : '✖'} ${snapshot.done.text}`) : null,
  );
}

export interface TtyRendererOptions {
  stdout: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  color: boolean;
}

export function createTtyRenderer(options: TtyRendererOptions): ProgressRenderer {
  if (!options.stdout.isTTY) return createPlainRenderer({ out: options.stdout as TextOut, color: options.color });
  const store = new ProgressStore();
  const instance = render(h(ProgressView, { store }), {
    stdout: options.stdout,
    stderr: options.stderr ?? process.stderr,
    exitOnCtrlC: false,
    patchConsole: false,
    // Only ever on a terminal (see above), also where CI=true is set.
    interactive: true,
  });
  let closed: Promise<void> | undefined;
  const c = makeChalk(options.color);
  const apply = (event: ProgressEvent) => store.apply(event.type === 'log' ? { ...event, line: prettyLine(event.line, c) } : event);
  return {
    kind: 'tty',
    attach: (bus: ProgressBus) => bus.subscribe(apply),
    render: apply,
    close: () =>
      (closed ??= (async () => {
        await instance.waitUntilRenderFlush();
        instance.unmount();
        await instance.waitUntilExit();
      })()),
  };
}
