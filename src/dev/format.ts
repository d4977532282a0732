/**
 * `msctl dev`'s events as a person reads them (`users  rebuilt in 180 ms · restarted healthy in
 * 1.4 s`): as lines off a terminal, as the dashboard's line per service on one, and as JSON lines
 * for scripts.
 */
import type { BuildLine } from '../dashboard/view';
import { formatSeconds } from '../core/duration';
import { makeChalk } from '../ui/colors';
import type { DevEvent } from './loop';

const ms = (value: number) => (value < 1000 ? `${Math.round(value)} ms` : formatSeconds(value));

const STEP_SAYS = {
  build: 'does not build',
  typecheck: 'does not type-check',
  manifest: 'has a service.json msctl cannot read',
  restart: 'did not restart',
} as const;

/** What an event says about its service, with its tone; undefined for `watching`. */
export function describeDevEvent(event: DevEvent): BuildLine | undefined {
  switch (event.type) {
    case 'watching':
      return undefined;
    case 'changed':
      return { service: event.service, tone: 'busy', text: `${event.files.slice(0, 3).join(', ')}${event.files.length > 3 ? ` and ${event.files.length - 3} more` : ''} changed` };
    case 'reloaded': {
      const steps = [`rebuilt in ${ms(event.buildMs)}`, ...(event.typecheckMs > 0 ? [`type-checked in ${ms(event.typecheckMs)}`] : []), `restarted healthy in ${ms(event.restartMs)}`];
      return { service: event.service, tone: 'ok', text: steps.join(' · ') };
    }
    case 'failed':
      return { service: event.service, tone: 'error', text: `${STEP_SAYS[event.step]}; the running version keeps serving`, detail: event.output.trimEnd().split('\n') };
  }
}

export function formatDevEvent(event: DevEvent, color: boolean, width: number): string {
  const c = makeChalk(color);
  if (event.type === 'watching') {
    return `${c.dim('watching')} ${event.services.join(', ')} ${c.dim(`and the kit: save a file to rebuild and restart what it affects${event.typecheck ? '' : ' (no type check)'}; Ctrl-C stops watching`)}\n`;
  }
  const line = describeDevEvent(event)!;
  const tone = { ok: c.green, busy: c.dim, error: c.red }[line.tone];
  const detail = (line.detail ?? []).map((text) => `    ${text}\n`).join('');
  return `${c.bold(line.service.padEnd(width))}  ${tone(line.text)}\n${detail}`;
}

/** The same event for scripts: durations in whole milliseconds. */
export function devEventJson(event: DevEvent): string {
  if (event.type === 'reloaded') {
    return JSON.stringify({ ...event, buildMs: Math.round(event.buildMs), typecheckMs: Math.round(event.typecheckMs), restartMs: Math.round(event.restartMs) });
  }
  return JSON.stringify(event);
}

/** The dashboard's line per watched service: the last thing each one's saves did. */
export class DevBoard {
  private lines: readonly BuildLine[];
  private readonly listeners = new Set<() => void>();

  constructor(services: readonly string[]) {
    this.lines = services.map((service) => ({ service, tone: 'ok', text: 'watching' }));
  }

  apply(event: DevEvent): void {
    const line = describeDevEvent(event);
    if (!line) return;
    this.lines = this.lines.map((each) => (each.service === line.service ? line : each));
    for (const listener of this.listeners) listener();
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getLines = (): readonly BuildLine[] => this.lines;
}
