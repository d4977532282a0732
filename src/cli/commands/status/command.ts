/** `msctl status` (alias `ps`, as in Compose): its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface StatusOptions {
  watch: boolean;
  /** Seconds between refreshes with --watch (default 2). */
  interval?: number;
  /** Only the ids of what runs, one per line: container ids on docker, pids on local. */
  quiet?: boolean;
}

export function register(program: Command, action: ActionFactory<StatusOptions>): void {
  withGlobalOptions(program.command('status').alias('ps').description('service, state, health, pid, port, uptime, restarts'))
    .option('-q, --quiet', 'only the ids of what runs, one per line (container ids on docker, pids on local)')
    .option('--watch', 'refresh until Ctrl-C (a terminal redraws; otherwise a timestamped table per change, JSON lines with --json)')
    .option('--interval <seconds>', 'seconds between refreshes with --watch', positiveNumber('--interval'), 2)
    .action(action((_args, o) => ({ watch: Boolean(o.watch), interval: o.interval as number, quiet: Boolean(o.quiet) })));
}
