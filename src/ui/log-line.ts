/**
 * How a service's log line is shown: pino JSON records made readable, anything else as it is,
 * both without the escape sequences and control characters the service may have written.
 */
import type { ChalkInstance } from 'chalk';
import { terminalSafe } from '../core/terminal-text';
import { clockTime } from './colors';

/** The colours a log line's level is shown in. */
export type LogColor = 'gray' | 'blue' | 'green' | 'yellow' | 'red' | 'magenta';

const LEVELS: Record<number, { name: string; color: LogColor }> = {
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

/** A part of a shown log line: its text (terminal-safe) and the style msctl gives it, if any. */
export interface LogPart {
  readonly text: string;
  readonly color?: LogColor;
  readonly dim?: boolean;
}

/**
 * A pino JSON line as the parts of `HH:MM:SS.mmm LEVEL msg key=value…`; anything else as one
 * part, as it is. Joined, the parts are the line's text; each is made terminal-safe. The
 * dashboard draws the parts with its own styles rather than parsing escape sequences again.
 */
export function logLineParts(line: string): LogPart[] {
  const text = terminalSafe(line);
  const record = recordOf(text);
  if (!record || (typeof record.level !== 'number' && typeof record.level !== 'string') || record.time === undefined) return [{ text }];
  // pino writes the level as a number by default, or as its label (as the services do).
  const level =
    typeof record.level === 'number'
      ? (LEVELS[record.level] ?? { name: `L${record.level}`, color: 'gray' as const })
      : (Object.values(LEVELS).find((known) => known.name === String(record.level).toUpperCase()) ?? { name: terminalSafe(String(record.level).toUpperCase()), color: 'gray' as const });
  const parts: LogPart[] = [];
  // Plain text next to plain text is one part.
  const add = (part: LogPart) => {
    const last = parts.at(-1);
    if (last && part.color === undefined && !part.dim && last.color === undefined && !last.dim) parts[parts.length - 1] = { text: last.text + part.text };
    else parts.push(part);
  };
  // The record's strings decode JSON escapes ("\u001b") into control characters again.
  const time = new Date(record.time as number | string);
  add({ text: Number.isNaN(time.getTime()) ? terminalSafe(String(record.time)) : clockTime(time, true), dim: true });
  add({ text: ' ' });
  add({ text: level.name.padEnd(5), color: level.color });
  if (record.msg !== undefined) add({ text: ` ${terminalSafe(String(record.msg))}` });
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    add({ text: ' ' });
    add({ text: `${terminalSafe(key)}=`, dim: true });
    add({ text: terminalSafe(formatValue(value)) });
  }
  return parts;
}

/** A pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value…`, in colour; anything else as it is (made terminal-safe). */
export function prettyLine(line: string, c: ChalkInstance): string {
  return logLineParts(line)
    .map((part) => (part.dim ? c.dim(part.text) : part.color ? c[part.color](part.text) : part.text))
    .join('');
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
