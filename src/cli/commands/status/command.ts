/** `msctl status`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface StatusOptions {
  watch: boolean;
  /** Seconds between refreshes with --watch (default 2). */
  interval?: number;
}

export function register(program: Command, action: ActionFactory<StatusOptions>): void {
  withGlobalOptions(program.command('status').description('service, state, health, pid, port, uptime, restarts'))
    .option('--watch', 'refresh until Ctrl-C (a terminal redraws; otherwise a timestamped table per change, JSON lines with --json)')
    .option('--interval <seconds>', 'seconds between refreshes with --watch', positiveNumber('--interval'), 2)
    .action(action((_args, o) => ({ watch: Boolean(o.watch), interval: o.interval as number })));
}
