/**
 * `msctl logs [svc…]`: the stored logs of services and infrastructure (`.msctl/logs/<name>.log`,
 * rotated files included), interleaved by time, each line prefixed `<name> | `. pino JSON lines
 * are pretty-printed (`HH:MM:SS.mmm LEVEL msg key=value…`) unless --raw. `--tail N` is per log;
 * `--since` takes an ISO time or 30s/10m/2h/1d. `-f` keeps printing new lines until Ctrl-C,
 * which ends the command with exit code 130 (interrupted, like `tail -f`).
 * `--until` bounds them the other way; `--trace <id>` keeps one trace's lines across services;
 * `-t` prints each line's time, `--no-log-prefix` drops the name. With --json every line is one
 * object: {"target","time","record"} for a JSON record, {"target","time","text"} for plain text.
 */
import { parseTimeOrAgo } from '../../../core/duration';
import { MsctlError } from '../../../core/errors';
import { terminalSafe } from '../../../core/terminal-text';
import { INFRASTRUCTURE } from '../../../stack/manifest';
import { loadProject } from '../../../stack/project';
import { openRuntime } from '../../../runtime/select';
import type { LogLine } from '../../../runtime/types';
import type { CliContext } from '../../context';
import type { LogsOptions } from './command';
import { type LineSelection, prettyLine, recordOf, selectsLine } from '../../../ui/log-line';
import { colorForTarget, makeChalk } from '../../../ui/colors';

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
  const since = options.since !== undefined ? parseTimeOrAgo(options.since, '--since') : undefined;
  const until = options.until !== undefined ? parseTimeOrAgo(options.until, '--until') : undefined;
  if (options.trace !== undefined && !/^[0-9a-f]{1,32}$/i.test(options.trace)) {
    throw new MsctlError('USAGE', `--trace ${options.trace}: not a trace id`, 'a trace id is up to 32 hex digits; `msctl traces` lists recent ones');
  }
  const selection: LineSelection = { ...(until ? { until } : {}), ...(options.trace !== undefined ? { trace: options.trace } : {}) };
  const selected = options.services.length > 0 ? [...new Set(options.services)] : known;
  const c = makeChalk(context.color && !context.json);
  let width = Math.max(...selected.map((name) => name.length));
  const print = (line: LogLine) => {
    if (!selectsLine(selection, line)) return;
    const record = recordOf(line.text);
    if (context.json) {
      context.stdout.write(`${JSON.stringify({ target: line.target, time: line.time?.toISOString() ?? null, ...(record ? { record } : { text: line.text }) })}\n`);
      return;
    }
    const text = options.raw ? terminalSafe(line.text) : prettyLine(line.text, c);
    const prefix = options.logPrefix !== false ? `${c[colorForTarget(line.target)](line.target.padEnd(width))} | ` : '';
    const stamp = options.timestamps ? `${c.dim(line.time?.toISOString() ?? '-'.padEnd(24))} ` : '';
    context.stdout.write(`${prefix}${stamp}${text}\n`);
  };
  const runtime = await openRuntime(project);
  await runtime.logs(
    { targets: selected, follow: options.follow, signal: context.signal, ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(since ? { since } : {}) },
    {
      snapshot: (lines, present) => {
        // Aligned on the logs there are (one that only appears while following may stick out).
        if (present.length > 0) width = Math.max(...present.map((name) => name.length));
        for (const line of lines) print(line);
      },
      line: print,
    },
  );
  return 0;
}
