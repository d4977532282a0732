/** `msctl psql [service] [-c <sql>]`: its arguments and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface PsqlOptions {
  /** Whose role to connect as; the superuser when undefined. */
  service: string | undefined;
  /** One statement to run, then exit with psql's exit code. */
  command: string | undefined;
}

export function register(program: Command, action: ActionFactory<PsqlOptions>): void {
  withGlobalOptions(program.command('psql').description("psql on the stack's database: as a service's own role with its schema on the search_path, or as the superuser"))
    .argument('[service]', 'the service whose role and schema to use (default: the superuser)')
    .option('-c, --command <sql>', "run one statement and exit with psql's exit code")
    .action(action(([service], o) => ({ service: service as string | undefined, command: o.command as string | undefined })));
}
