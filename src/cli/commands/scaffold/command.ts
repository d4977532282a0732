/** `msctl scaffold new-service <name>`: its flags and options. */
import type { Command } from 'commander';
import type { NewServiceInput } from '../../../scaffold/new-service';
import { type ActionFactory, wholeNumber, withGlobalOptions } from '../../command';

/** `msctl scaffold new-service <name>`: choices left undefined are asked on a terminal, else defaulted. */
export interface ScaffoldNewServiceOptions {
  input: NewServiceInput;
  /** Take the defaults without asking. */
  yes: boolean;
}

export function register(program: Command, action: ActionFactory<ScaffoldNewServiceOptions>): void {
  const scaffold = program.command('scaffold').description('generate code: scaffold new-service <name>');
  withGlobalOptions(scaffold.command('new-service').description('write services/<name>/ from templates/: manifest, code on the kit, migration, tests'))
    .argument('<name>', 'lowercase kebab-case, e.g. inventory')
    .option('--consumes <topics...>', 'topics it consumes (space or comma separated)')
    .option('--produces <topics...>', 'topics it produces (POST /<name>/events publishes to the first)')
    .option('--postgres', 'store what it processes in PostgreSQL (a migration, idempotency in the database)')
    .option('--no-postgres', 'keep its state in memory')
    .option('--route <prefix>', 'expose it through the gateway, e.g. /api/<name> (→ /<name> on the service)')
    .option('--no-route', 'not exposed through the gateway')
    .option('--port <port>', 'its port (default: the first free one above every service\'s)', wholeNumber('--port'))
    .option('--dry-run', 'print the files it would write (contents with --verbose), write nothing')
    .option('-y, --yes', 'do not ask on a terminal: defaults for what the flags leave open')
    .action(
      action(([name], o) => ({
        input: {
          name: name as string,
          consumes: o.consumes as string[] | undefined,
          produces: o.produces as string[] | undefined,
          postgres: o.postgres as boolean | undefined,
          route: o.route as string | false | undefined,
          port: o.port as number | undefined,
          dryRun: Boolean(o.dryRun),
        },
        yes: Boolean(o.yes),
      })),
    );
}
