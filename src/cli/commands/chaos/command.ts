/** `msctl chaos <action> <target>`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface ChaosOptions {
  action: string;
  target: string;
  /** As typed: 15s, 500ms, 2m. */
  for: string;
}

export function register(program: Command, action: ActionFactory<ChaosOptions>): void {
  withGlobalOptions(program.command('chaos').description('break a service or the infrastructure on purpose (kill, stop, pause) and restore it after a while'))
    .argument('<action>', 'kill | stop | pause')
    .argument('<target>', 'a service (users, users#2…), kafka or postgres')
    .option('--for <duration>', 'how long it stays broken (stop, pause; kill of kafka/postgres)', '15s')
    .action(action(([chaosAction, target], o) => ({ action: chaosAction as string, target: target as string, for: o.for as string })));
}
