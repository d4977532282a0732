/** `msctl scale <service=count...>`: its flags and options. */
import type { Command } from 'commander';
import { DEFAULT_TIMEOUT_SECONDS } from '../../../runtime/runtime';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface ScaleOptions {
  /** "service=count" arguments. */
  targets: string[];
  timeout: number;
}

export function register(program: Command, action: ActionFactory<ScaleOptions>): void {
  withGlobalOptions(program.command('scale').description('run a service as N instances: HTTP ones behind the gateway, consumers as members of one group'))
    .argument('<service=count...>', 'e.g. notifications=3 users=2')
    .option('--timeout <seconds>', 'per-instance health timeout', positiveNumber('--timeout'), DEFAULT_TIMEOUT_SECONDS)
    .action(action(([targets], o) => ({ targets: targets as string[], timeout: o.timeout as number })));
}
