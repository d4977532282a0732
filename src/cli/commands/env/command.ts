/** `msctl env <service> [--show-secrets]`: its arguments and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface EnvOptions {
  /** A service, or one of its instances ("users#2"). */
  target: string;
  showSecrets: boolean;
}

export function register(program: Command, action: ActionFactory<EnvOptions>): void {
  withGlobalOptions(program.command('env').description("the environment the runtime gives a service, with the overrides from services/<name>/.env and .msctl/env/<name>.env marked; secrets masked"))
    .argument('<service>', 'the service, or one of its instances (users#2)')
    .option('--show-secrets', 'print secret values (JWT key, internal keys, database passwords, the trace token) instead of ****')
    .action(action(([target], o) => ({ target: target as string, showSecrets: Boolean(o.showSecrets) })));
}
