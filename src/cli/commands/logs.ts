/**
 * `msctl logs [svc…]`: the stored logs of services and infrastructure (`.msctl/logs/<name>.log`,
 * rotated files included), interleaved by time, each line prefixed `<name> | `. pino JSON lines
 * are pretty-printed (`HH:MM:SS.mmm LEVEL msg key=value…`) unless --raw. `--tail N` is per log;
 * `--since` takes an ISO time or 30s/10m/2h/1d. `-f` keeps printing new lines until Ctrl-C,
 * which ends the command with exit code 130 (interrupted, like `tail -f`).
 * With --json every line is one object: {"target","time","text"}.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChalkInstance } from 'chalk';
import { MsctlError } from '../../core/errors';
import { followLog, logExists, snapshotLog, type LogLine, type LogPosition } from '../../runtime/local/log-files';
import { INFRASTRUCTURE } from '../../stack/manifest';
import { loadProject } from '../../stack/project';
import type { CliContext, LogsOptions } from '../context';
import { clockTime, colorForTarget, makeChalk } from '../output/colors';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO time (or anything Date parses) or a duration back from now: 30s, 10m, 2h, 1d, 1.5h. */
export function parseSince(text: string, now: Date = new Date()): Date {
  const relative = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNITS[relative[2]!]!);
  const date = /^\d{4}-\d\d-\d\d/.test(text.trim()) ? new Date(text.trim()) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new MsctlError('USAGE', `--since ${text}: not a time`, 'use an ISO time like 2025-01-31T10:00:00Z, or a duration like 30s, 10m, 2h, 1d');
  }
  return date;
}

const LEVELS: Record<number, { name: string; color: 'gray' | 'blue' | 'green' | 'yellow' | 'red' | 'magenta' }> = {
  10: { name: 'TRACE', color: 'gray' },
  20: { name: 'DEBUG', color: 'blue' },
  30: { name: 'INFO', color: 'green' },
  40: { name: 'WARN', color: 'yellow' },
  50: { name: 'ERROR', color: 'red' },
  60: { name: 'FATAL', color: 'magenta' },
};

const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

const formatValue = (value: unknown): string => {
  if (typeof value === 'string') return /^[^\s="]+$/.test(value) ? value : JSON.stringify(value);
  if (value && typeof value === 'object' && 'message' in value && typeof (value as { message: unknown }).message === 'string') {
    const err = value as { type?: string; message: string };
    return JSON.stringify(err.type ? `${err.type}: ${err.message}` : err.message);
  }
  return JSON.stringify(value) ?? String(value);
};

/** A pino JSON line as `HH:MM:SS.mmm LEVEL msg key=value…`; anything else unchanged. */
export function prettyLine(text: string, c: ChalkInstance): string {
  if (!text.startsWith('{')) return text;
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return text;
  }
  if (typeof record.level !== 'number' || record.time === undefined) return text;
  const level = LEVELS[record.level] ?? { name: `L${record.level}`, color: 'gray' as const };
  const time = new Date(record.time as number | string);
  const parts = [c.dim(Number.isNaN(time.getTime()) ? String(record.time) : clockTime(time, true)), c[level.color](level.name.padEnd(5))];
  if (record.msg !== undefined) parts.push(String(record.msg));
  for (const [key, value] of Object.entries(record)) {
    if (HIDDEN.has(key) || value === undefined) continue;
    parts.push(`${c.dim(`${key}=`)}${formatValue(value)}`);
  }
  return parts.join(' ');
}

/** Stable merge of several logs by time (lines without a time keep their place in their log). */
export function interleave(logs: LogLine[][]): LogLine[] {
  const all = logs.flatMap((lines, log) => lines.map((line, index) => ({ line, log, index })));
  const key = (entry: (typeof all)[number]) => entry.line.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  all.sort((a, b) => key(a) - key(b) || a.log - b.log || a.index - b.index);
  return all.map((entry) => entry.line);
}

export async function run(options: LogsOptions, context: CliContext): Promise<number> {
  const project = await loadProject(context.projectDir);
  const known = [...INFRASTRUCTURE, ...project.manifests.map((m) => m.name)];
  const unknown = options.services.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new MsctlError(
      'USAGE',
      `unknown service${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')} (known: ${known.join(', ')})`,
      '`msctl logs` with no name shows them all',
    );
  }
  const since = options.since !== undefined ? parseSince(options.since) : undefined;
  const selected = options.services.length > 0 ? [...new Set(options.services)] : known;
  const dir = join(project.stateDir, 'logs');
  const stateExists = existsSync(join(project.stateDir, 'state.json'));

  const present = (await Promise.all(selected.map(async (name) => ((await logExists(dir, name)) ? name : undefined)))).filter(
    (name): name is string => name !== undefined,
  );
  if (present.length === 0 && !(options.follow && stateExists)) {
    throw new MsctlError(
      'NOT_RUNNING',
      stateExists
        ? `no logs yet for ${selected.join(', ')} in ${dir}`
        : `no logs: the stack has not been started here (no ${join(project.stateDir, 'state.json')})`,
      'start the stack with `msctl up`',
    );
  }

  const c = makeChalk(context.color && !context.json);
  // Aligned on the logs there are (one that only appears while following may stick out).
  const width = Math.max(...(present.length > 0 ? present : selected).map((name) => name.length));
  const print = (line: LogLine) => {
    if (context.json) {
      context.stdout.write(`${JSON.stringify({ target: line.target, time: line.time?.toISOString() ?? null, text: line.text })}\n`);
    } else {
      const text = options.raw ? line.text : prettyLine(line.text, c);
      context.stdout.write(`${c[colorForTarget(line.target)](line.target.padEnd(width))} | ${text}\n`);
    }
  };

  const snapshots = await Promise.all(
    selected.map((name) => snapshotLog({ dir, name, ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(since ? { since } : {}) })),
  );
  for (const line of interleave(snapshots.map((s) => s.lines))) print(line);
  if (!options.follow) return 0;

  await Promise.all(
    selected.map(async (name, i) => {
      const from: LogPosition | undefined = snapshots[i]!.position;
      // A log that had no file at the snapshot is followed from its start once it appears.
      const follower = followLog({ dir, name, signal: context.signal, ...(from ? { from } : { from: { ino: -1, offset: 0 } }) });
      for await (const line of follower) print(line);
    }),
  );
  return 0;
}
