/** `msctl down`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface DownOptions {
  volumes: boolean;
}

export function register(program: Command, action: ActionFactory<DownOptions>): void {
  // -v is --volumes, as in `docker compose down -v`.
  withGlobalOptions(program.command('down').description('stop the stack in reverse dependency order'))
    .option('-v, --volumes', 'also delete the data (Kafka, PostgreSQL, .msctl state)')
    .action(action((_args, o) => ({ volumes: Boolean(o.volumes) })));
}
