/** `msctl dashboard`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface DashboardOptions {
  /** Seconds between polls of /health and /metrics (default 1). */
  interval: number;
}

export function register(program: Command, action: ActionFactory<DashboardOptions>): void {
  withGlobalOptions(program.command('dashboard').description('live terminal dashboard: services, circuit breakers, Kafka rates and lag, logs (--json: snapshots as JSON lines)'))
    .option('--interval <seconds>', 'seconds between polls of each service', positiveNumber('--interval'), 1)
    .action(action((_args, o) => ({ interval: o.interval as number })));
}
