/** `msctl restart <service>`: its arguments and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface RestartOptions {
  service: string;
}

export function register(program: Command, action: ActionFactory<RestartOptions>): void {
  withGlobalOptions(program.command('restart').description('restart one service'))
    .argument('<service>', 'the service to restart')
    .action(action(([service]) => ({ service: service as string })));
}
