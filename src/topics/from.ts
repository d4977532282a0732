/** `--from beginning|end|<offset>|-<n>|<time>`: where `topics tail` starts in each partition. */
import { durationMs, isoTime } from '../core/duration';
import { MsctlError } from '../core/errors';

export type FromSpec =
  | { kind: 'beginning' }
  | { kind: 'end' }
  /** An absolute offset, the same in every partition. */
  | { kind: 'offset'; offset: number }
  /** The last n messages of each partition. */
  | { kind: 'last'; count: number }
  /** The first message at or after this instant (ms since the epoch). */
  | { kind: 'time'; timestamp: number };

export function parseFrom(text: string, now: Date = new Date()): FromSpec {
  const value = text.trim();
  if (value === 'beginning' || value === 'earliest' || value === 'start') return { kind: 'beginning' };
  if (value === 'end' || value === 'latest' || value === 'now') return { kind: 'end' };
  if (/^\d+$/.test(value)) return { kind: 'offset', offset: Number(value) };
  if (/^-\d+$/.test(value)) return { kind: 'last', count: Number(value.slice(1)) };
  const at = isoTime(value);
  if (at) return { kind: 'time', timestamp: at.getTime() };
  // A duration back from now needs its unit here: a bare number is an offset.
  const span = value.replace(/\s*ago$/, '');
  const ago = /[a-zµ]$/.test(span) ? durationMs(span) : undefined;
  if (ago !== undefined) return { kind: 'time', timestamp: now.getTime() - ago };
  throw new MsctlError(
    'USAGE',
    `--from ${text}: not a start position`,
    'use beginning, end, an offset (42), the last n messages (-10), an ISO time (2025-01-31T10:00:00Z) or a duration back from now (30s, 10m, 2h, 1h30m, 1d)',
  );
}

/** The first offset to read in a partition whose log spans [low, high). `atTime` is the broker's answer for a time. */
export function startOffset(spec: FromSpec, low: number, high: number, atTime?: number): number {
  switch (spec.kind) {
    case 'beginning':
      return low;
    case 'end':
      return high;
    case 'offset':
      return Math.min(Math.max(spec.offset, low), high);
    case 'last':
      return Math.max(low, high - spec.count);
    case 'time':
      return Math.min(Math.max(atTime ?? high, low), high);
  }
}
