/**
 * The one duration grammar of every flag that takes a length of time (`--for`, `--ttl`,
 * `--min-duration`, `--duration`, `--since`, `--from`): `500ms`, `30s`, `5m`, `1h`, `1d`, compounds
 * (`1h30m`), decimals (`1.5h`), and a bare number meaning seconds.
 */
import { MsctlError } from './errors';

const UNITS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h|d)/y;

export const DURATION_HINT = 'e.g. 500ms, 30s, 5m, 1h30m';

/** Milliseconds, or undefined when the text is not a duration. */
export function durationMs(text: string): number | undefined {
  const value = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(value)) return Number(value) * 1_000;
  if (value === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < value.length) {
    const match = PART.exec(value);
    if (!match) return undefined;
    total += Number(match[1]) * UNITS[match[2]!]!;
    while (value[PART.lastIndex] === ' ') PART.lastIndex++;
  }
  return total;
}

/** `text` as milliseconds; a usage error naming `flag` when it is not a duration. */
export function parseDuration(text: string, flag: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new MsctlError('USAGE', `${flag} ${text} is not a duration`, DURATION_HINT);
  return ms;
}

/** An ISO time (2025-01-31T10:00:00Z), or undefined. */
export function isoTime(text: string): Date | undefined {
  const value = text.trim();
  if (!/^\d{4}-\d\d-\d\d/.test(value)) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** For flags that mean a time (`--since`): an ISO time, or a duration back from `now`. */
export function parseTimeOrAgo(text: string, flag: string, now: Date = new Date()): Date {
  const at = isoTime(text);
  if (at) return at;
  const ms = durationMs(text);
  if (ms === undefined) {
    throw new MsctlError('USAGE', `${flag} ${text}: not a time`, 'use an ISO time like 2025-01-31T10:00:00Z, or a duration back from now: 30s, 10m, 2h, 1h30m, 1d');
  }
  return new Date(now.getTime() - ms);
}

/** A duration as msctl says it in a sentence: "1.5 s". */
export const formatSeconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`;
