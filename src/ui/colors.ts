/** Colour helpers shared by the renderers and the commands: one chalk per decision, stable per-target colours. */
import chalk, { Chalk, type ChalkInstance, type ForegroundColorName } from 'chalk';
import { ESCAPE_SEQUENCES } from '../core/terminal-text';

/** A chalk that colours only when `color` is true (level 0 emits no escape codes at all). */
export function makeChalk(color: boolean): ChalkInstance {
  return new Chalk({ level: color ? chalk.level || 1 : 0 });
}

const PALETTE: ForegroundColorName[] = ['cyan', 'magenta', 'blue', 'yellow', 'green', 'cyanBright', 'magentaBright', 'blueBright', 'yellowBright', 'greenBright'];

/** The same target always gets the same colour (a hash of its name into a palette). */
export function colorForTarget(target: string): ForegroundColorName {
  let hash = 0;
  for (const char of target) hash = (Math.imul(hash, 31) + char.codePointAt(0)!) >>> 0;
  return PALETTE[hash % PALETTE.length]!;
}

export const stripAnsi = (text: string): string => text.replace(ESCAPE_SEQUENCES, '');

/** Local wall-clock time of an instant as HH:MM:SS (or HH:MM:SS.mmm with `millis`). */
export function clockTime(at: Date | string | number, millis = false): string {
  const date = at instanceof Date ? at : new Date(at);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const base = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return millis ? `${base}.${pad(date.getMilliseconds(), 3)}` : base;
}
