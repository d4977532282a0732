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
import { MsctlError } from '../../../core/errors';
import { terminalSafe } from '../../../core/terminal-text';
import { followLog, logExists, snapshotLog, type LogLine, type LogPosition } from '../../../runtime/local/log-files';
import { INFRASTRUCTURE } from '../../../stack/manifest';
import { loadProject, type Project } from '../../../stack/project';
import { runtimeForExisting } from '../../../runtime/select';
import type { CliContext } from '../../context';
import type { LogsOptions } from './command';
import { prettyLine } from '../../output/log-line';
import { colorForTarget, makeChalk } from '../../output/colors';

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
  if (runtimeForExisting(project) === 'docker') return dockerLogs(project, selected, since, options, context);
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
      const text = options.raw ? terminalSafe(line.text) : prettyLine(line.text, c);
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

/** The docker runtime keeps logs in the Engine: read through its API, shown the same way. */
async function dockerLogs(project: Project, selected: string[], since: Date | undefined, options: LogsOptions, context: CliContext): Promise<number> {
  const { followDockerLogs } = await import('../../../runtime/docker/runtime');
  const c = makeChalk(context.color && !context.json);
  const width = Math.max(...selected.map((name) => name.length));
  const print = (target: string, text: string) => {
    if (context.json) context.stdout.write(`${JSON.stringify({ target, time: null, text })}\n`);
    else context.stdout.write(`${c[colorForTarget(target)](target.padEnd(width))} | ${options.raw ? terminalSafe(text) : prettyLine(text, c)}\n`);
  };
  await followDockerLogs(project, print, context.signal, {
    follow: options.follow,
    targets: selected,
    ...(options.tail !== undefined ? { tail: options.tail } : {}),
    ...(since ? { since } : {}),
  });
  return 0;
}
