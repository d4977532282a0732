/**
 * `msctl dev`'s events as a person reads them (`users  rebuilt in 180 ms · restarted healthy in
 * 1.4 s`) and as a script does (one JSON object a line).
 */
import { makeChalk } from '../ui/colors';
import { formatSeconds } from '../core/duration';
import type { DevEvent } from './loop';

const ms = (value: number) => (value < 1000 ? `${Math.round(value)} ms` : formatSeconds(value));

const STEP_SAYS = {
  build: 'does not build',
  typecheck: 'does not type-check',
  manifest: 'has a service.json msctl cannot read',
  restart: 'did not restart',
} as const;

export function formatDevEvent(event: DevEvent, color: boolean, width: number): string {
  const c = makeChalk(color);
  const name = (service: string) => c.bold(service.padEnd(width));
  switch (event.type) {
    case 'watching':
      return `${c.dim('watching')} ${event.services.join(', ')} ${c.dim(`and the kit: save a file to rebuild and restart what it affects${event.typecheck ? '' : ' (no type check)'}; Ctrl-C stops watching`)}\n`;
    case 'changed':
      return `${name(event.service)}  ${c.dim(`${event.files.slice(0, 3).join(', ')}${event.files.length > 3 ? ` and ${event.files.length - 3} more` : ''} changed`)}\n`;
    case 'reloaded': {
      const steps = [`rebuilt in ${ms(event.buildMs)}`, ...(event.typecheckMs > 0 ? [`type-checked in ${ms(event.typecheckMs)}`] : []), `restarted healthy in ${ms(event.restartMs)}`];
      return `${name(event.service)}  ${c.green(steps.join(' · '))}\n`;
    }
    case 'failed': {
      const body = event.output.trimEnd().split('\n').map((line) => `    ${line}`).join('\n');
      return `${name(event.service)}  ${c.red(`${STEP_SAYS[event.step]}; the running version keeps serving`)}\n${body}\n`;
    }
  }
}

/** The same event for scripts: durations in whole milliseconds. */
export function devEventJson(event: DevEvent): string {
  if (event.type === 'reloaded') {
    return JSON.stringify({ ...event, buildMs: Math.round(event.buildMs), typecheckMs: Math.round(event.typecheckMs), restartMs: Math.round(event.restartMs) });
  }
  return JSON.stringify(event);
}
