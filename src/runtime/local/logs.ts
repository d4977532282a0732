/**
 * The local runtime's logs: `.msctl/logs/<name>.log` and its rotated files, written by the
 * supervisor, merged by time, followed across rotations.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MsctlError } from '../../core/errors';
import type { Project } from '../../stack/project';
import type { LogRequest, LogSink } from '../runtime';
import type { LogLine } from '../types';
import { followLog, logExists, snapshotLog, type LogPosition } from './log-files';

/** Stable merge of several logs by time (lines without a time keep their place in their log). */
export function interleave(logs: LogLine[][]): LogLine[] {
  const all = logs.flatMap((lines, log) => lines.map((line, index) => ({ line, log, index })));
  const key = (entry: (typeof all)[number]) => entry.line.time?.getTime() ?? Number.NEGATIVE_INFINITY;
  all.sort((a, b) => key(a) - key(b) || a.log - b.log || a.index - b.index);
  return all.map((entry) => entry.line);
}

export async function readLocalLogs(project: Project, request: LogRequest, sink: LogSink): Promise<void> {
  const dir = join(project.stateDir, 'logs');
  const stateExists = existsSync(join(project.stateDir, 'state.json'));
  const present = (await Promise.all(request.targets.map(async (name) => ((await logExists(dir, name)) ? name : undefined)))).filter(
    (name): name is string => name !== undefined,
  );
  if (present.length === 0 && !(request.follow && stateExists)) {
    throw new MsctlError(
      'NOT_RUNNING',
      stateExists
        ? `no logs yet for ${request.targets.join(', ')} in ${dir}`
        : `no logs: the stack has not been started here (no ${join(project.stateDir, 'state.json')})`,
      'start the stack with `msctl up`',
    );
  }
  const snapshots = await Promise.all(
    request.targets.map((name) => snapshotLog({ dir, name, ...(request.tail !== undefined ? { tail: request.tail } : {}), ...(request.since ? { since: request.since } : {}) })),
  );
  if (request.signal.aborted) return;
  sink.snapshot(interleave(snapshots.map((s) => s.lines)), present);
  if (!request.follow) return;
  await Promise.all(
    request.targets.map(async (name, i) => {
      const from: LogPosition | undefined = snapshots[i]!.position;
      // A log that had no file at the snapshot is followed from its start once it appears.
      const follower = followLog({ dir, name, signal: request.signal, from: from ?? { ino: -1, offset: 0 } });
      for await (const line of follower) sink.line(line);
    }),
  );
}
