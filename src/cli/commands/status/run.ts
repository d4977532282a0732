import { MsctlError } from '../../../core/errors';
import { consumerGroupOf } from '../../../runtime/health';
import { openRuntime } from '../../../runtime/select';
import { keeperLine } from '../../../runtime/status';
import type { StackStatus } from '../../../runtime/types';
import { sleep as abortableSleep } from '../../../core/sleep';
import { loadProject } from '../../../stack/project';
import { formatUptime } from '../../../ui/format';
import type { CliContext } from '../../context';
import type { StatusOptions } from './command';
import { makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

export function renderStatus(status: StackStatus, color: boolean): string {
  const c = makeChalk(color);
  const stateColor = (state: string) =>
    state === 'healthy' ? c.green(state) : state === 'stopped' ? c.dim(state) : ['failed', 'unhealthy'].includes(state) ? c.red(state) : c.yellow(state);
  const rows = status.targets.map((target) => {
    const checks = Object.entries(target.checks).map(([name, result]) => `${consumerGroupOf(name) === undefined ? name.split(':')[0] : 'consumer'} ${result}`);
    const open = Object.entries(target.circuits).filter(([, state]) => state !== 'closed').map(([name, state]) => `circuit ${name} ${state}`);
    return [
      target.name,
      stateColor(target.state),
      target.health,
      target.pid === null ? '-' : String(target.pid),
      target.port === null ? '-' : String(target.port),
      formatUptime(target.uptimeSeconds),
      String(target.restarts),
      [...checks, ...open].join(', ') || '-',
    ];
  });
  const keeper = keeperLine(status);
  const supervisor = status.supervisor.state === 'running' ? keeper.running : status.supervisor.state === 'stale' ? c.yellow(keeper.stale) : 'not running (msctl up starts it)';
  const table = formatTable(rows, { header: ['NAME', 'STATE', 'HEALTH', 'PID', 'PORT', 'UPTIME', 'RESTARTS', 'DEPENDENCIES'], color, align: ['left', 'left', 'left', 'right', 'right', 'right', 'right'] });
  // Why a check does not pass: a stalled consumer names its partition, offset and error.
  const problems = status.targets.flatMap((target) =>
    Object.entries(target.problems ?? {}).map(([check, output]) => {
      const group = consumerGroupOf(check);
      const line = `${target.name}: ${group === undefined ? check : `consumer ${group}`} ${output}`;
      return target.checks[check] === 'fail' ? c.red(line) : c.yellow(line);
    }),
  );
  return `${c.bold(`${status.runtime} runtime`)} · ${status.project} · ${supervisor}\n${table}\n${problems.map((line) => `${line}\n`).join('')}`;
}

/** `msctl ps -q`: the id of each target that runs, one per line (nothing when nothing runs). */
export function renderIds(status: StackStatus): string {
  return status.targets.flatMap((target) => (target.id && target.state !== 'stopped' ? [`${target.id}\n`] : [])).join('');
}

/** What counts as a change for `status --watch` off a terminal: everything but the ticking uptime. */
export function statusKey(status: StackStatus): string {
  return JSON.stringify({ ...status, targets: status.targets.map(({ uptimeSeconds: _uptime, ...rest }) => rest) });
}

export interface WatchOptions {
  /** tty: redraw in place; plain: a timestamped table when something changed (and at least once a minute); json: one status per line per interval. */
  mode: 'tty' | 'plain' | 'json';
  intervalMs: number;
  color: boolean;
  signal: AbortSignal;
  write: (text: string) => void;
  now?: () => Date;
  /** Plain mode prints an unchanged status again after this long (default 60 s). */
  repeatAfterMs?: number;
  /** Waits between polls (tests pass a fake). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
}

/** `msctl status --watch`: polls until the signal aborts, printing as the mode says. */
export async function watchStatus(read: () => Promise<StackStatus>, options: WatchOptions): Promise<void> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? abortableSleep;
  const repeatAfter = options.repeatAfterMs ?? 60_000;
  let lastKey: string | undefined;
  let lastPrinted = 0;
  let first = true;
  while (!options.signal.aborted) {
    const status = await read();
    if (options.signal.aborted) break;
    const at = now();
    if (options.mode === 'json') {
      options.write(`${JSON.stringify({ at: at.toISOString(), ...status })}\n`);
    } else if (options.mode === 'tty') {
      const c = makeChalk(options.color);
      const text = `${c.dim(`${at.toISOString()} · every ${options.intervalMs / 1000}s · Ctrl-C to stop`)}\n${renderStatus(status, options.color)}`;
      // Home, each line cleared to its end, then the rest of the screen cleared: no flicker.
      const body = text.split('\n').map((line) => `${line}\u001b[K`).join('\n');
      options.write(`${first ? '\u001b[2J' : ''}\u001b[H${body}\u001b[J`);
    } else {
      const key = statusKey(status);
      if (key !== lastKey || at.getTime() - lastPrinted >= repeatAfter) {
        options.write(`--- ${at.toISOString()}\n${renderStatus(status, options.color)}`);
        lastKey = key;
        lastPrinted = at.getTime();
      }
    }
    first = false;
    await sleep(options.intervalMs, options.signal);
  }
}

export async function run(options: StatusOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  if (options.quiet && options.watch) throw new MsctlError('USAGE', '--quiet and --watch do not go together', 'use msctl ps -q once, or msctl status --watch');
  if (options.quiet) {
    context.stdout.write(renderIds(await (await openRuntime(project)).status()));
    return;
  }
  if (!options.watch) {
    const status = await (await openRuntime(project)).status();
    context.stdout.write(context.json ? `${JSON.stringify(status)}\n` : renderStatus(status, context.color));
    return;
  }
  // Opened at each refresh: the stack may be started on the other runtime meanwhile.
  await watchStatus(async () => (await openRuntime(project)).status(), {
    mode: context.json ? 'json' : context.isTTY && process.env.TERM !== 'dumb' ? 'tty' : 'plain',
    intervalMs: Math.round((options.interval ?? 2) * 1000),
    color: context.color,
    signal: context.signal,
    write: (text) => context.stdout.write(text),
  });
  return 0;
}
