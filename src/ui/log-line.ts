/**
 * How a service's log line is shown: pino JSON records made readable, anything else as it is,
 * both without the escape sequences and control characters the service may have written.
 */
import type { ChalkInstance } from 'chalk';
import { terminalSafe } from '../core/terminal-text';
import { clockTime } from './colors';

const LEVELS: Record<number, { name: string; color: 'gray' | 'blue' | 'green' | 'yellow' | 'red' | 'magenta' }> = {
  10: { name: 'TRACE', color: 'gray' },
  20: { name: 'DEBUG', color: 'blue' },
  30: { name: 'INFO', color: 'green' },
  40: { name: 'WARN', color: 'yellow' },
  50: { name: 'ERROR', color: 'red' },
  60: { name: 'FATAL', color: 'magenta' },
};

const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v', 'service']);

const formatValue = (value: unknown): string => {
  if (typeof value === 'string') return /^[^\s="]+$/.test(value) ? value : JSON.stringify(value);
  if (value && typeof value === 'object' && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    const err = value as { type?: string; message: string };
    return JSON.stringify(err.type ? `${err.type}: ${err.message}` : err.message);
  }
  return JSON.stringify(value) ?? String(value);
};

/** A pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value…`; anything else as it is (made terminal-safe). */
export function prettyLine(line: string, c: ChalkInstance): string {
  const text = terminalSafe(line);
  if (!text.startsWith('{')) return text;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return text;
  }
  if ((typeof record.level !== 'number' && typeof record.level !== 'string') || record.time === undefined) return text;
  // pino writes the level as a number by default, or as its label (as the services do).
  const level =
    typeof record.level === 'number'
      ? (LEVELS[record.level] ?? { name: `L${record.level}`, color: 'gray' as const })
      : (Object.values(LEVELS).find((known) => known.name === String(record.level).toUpperCase()) ?? { name: terminalSafe(String(record.level).toUpperCase()), color: 'gray' as const });
  // The record's strings decode JSON escapes ("\u001b") into control characters again.
  const time = new Date(record.time as number | string);
  const parts = [c.dim(Number.isNaN(time.getTime()) ? terminalSafe(String(record.time)) : clockTime(time, true)), c[level.color](level.name.padEnd(5))];
  if (record.msg !== undefined) parts.push(terminalSafe(String(record.msg)));
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    parts.push(`${c.dim(`${terminalSafe(key)}=`)}${terminalSafe(formatValue(value))}`);
  }
  return parts.join(' ');
}


/** A log line's JSON record (as pino writes one), or undefined for a line of plain text. */
export function recordOf(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface Line {
  text: string;
  time: Date | undefined;
}

/** Which lines `msctl logs` prints, whichever runtime read them. */
export interface LineSelection {
  /** Only lines written at or before this time; a line whose time nothing tells is kept. */
  until?: Date;
  /** Only lines of this trace: their record's trace_id (as services/kit logs it) is it, or starts with it. */
  trace?: string;
}

export function selectsLine(selection: LineSelection, line: Line): boolean {
  if (selection.trace !== undefined) {
    const traceId = recordOf(line.text)?.trace_id;
    if (typeof traceId !== 'string' || !traceId.toLowerCase().startsWith(selection.trace.toLowerCase())) return false;
  }
  if (selection.until !== undefined && line.time && line.time.getTime() > selection.until.getTime()) return false;
  return true;
}
