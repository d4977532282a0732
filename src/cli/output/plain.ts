/**
 * Plain lines, for pipes, CI and dumb terminals: one line per event.
 *   HH:MM:SS  <target padded>  <phase>  <detail>
 *   <target padded> | <log line>
 * Colour (a stable colour per target, phases by outcome) only when `color` is true.
 */
import type { ChalkInstance } from 'chalk';
import type { ProgressBus, ProgressEvent, TargetPhase } from '../../core/events';
import { clockTime, colorForTarget, makeChalk } from '../../ui/colors';
import { prettyLine } from '../../ui/log-line';
import type { ProgressRenderer, TextOut } from './renderer';

export interface PlainRendererOptions {
  out: TextOut;
  color: boolean;
  /** Minimum width the target column is padded to (it grows with longer targets). Default 10. */
  targetWidth?: number;
}

const GOOD: ReadonlySet<TargetPhase> = new Set(['healthy', 'running', 'built', 'stopped']);
const BAD: ReadonlySet<TargetPhase> = new Set(['failed', 'unhealthy']);

export function phaseColor(c: ChalkInstance, phase: TargetPhase): (text: string) => string {
  if (BAD.has(phase)) return c.red;
  if (GOOD.has(phase)) return c.green;
  if (phase === 'planned') return c.gray;
  return c.yellow;
}

export function createPlainRenderer(options: PlainRendererOptions): ProgressRenderer {
  const c = makeChalk(options.color);
  let width = options.targetWidth ?? 10;
  const target = (name: string) => {
    width = Math.max(width, name.length);
    return c[colorForTarget(name)](name.padEnd(width));
  };
  const write = (line: string) => void options.out.write(`${line}\n`);

  const render = (event: ProgressEvent): void => {
    switch (event.type) {
      case 'target': {
        const detail = event.detail ? `  ${c.dim(event.detail)}` : '';
        write(`${c.dim(clockTime(event.at))}  ${target(event.target)}  ${phaseColor(c, event.phase)(event.phase)}${detail}`);
        return;
      }
      case 'log':
        write(`${target(event.target)} | ${prettyLine(event.line, c)}`);
        return;
      case 'message': {
        const label = event.level === 'info' ? '' : event.level === 'warn' ? `${c.yellow('warn:')} ` : `${c.red('error:')} `;
        write(`${c.dim(clockTime(event.at))}  ${label}${event.text}`);
        return;
      }
      case 'done':
        write(`${c.dim(clockTime(event.at))}  ${event.ok ? c.green(event.text) : c.red(event.text)}`);
        return;
    }
  };

  return {
    kind: 'plain',
    attach: (bus: ProgressBus) => bus.subscribe(render),
    render,
    close: async () => undefined,
  };
}
