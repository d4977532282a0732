/** `msctl dev [services...]` (and `msctl up --watch`): its flags and options. */
import { type Command, Option } from 'commander';
import type { RuntimeChoice } from '../../../runtime/select';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface DevOptions {
  services: string[];
  runtime: RuntimeChoice;
  /** Per-service health timeout in seconds, for the start and for each reload. */
  timeout: number;
  offline: boolean;
  /** Type-check each save before it reaches a service (tsc); off, a save is only bundled. */
  typecheck: boolean;
  /** What Ctrl-C does: `dev` leaves the stack running, `up --watch` stops it as `up` does. */
  stopOnExit: boolean;
}

export function register(program: Command, action: ActionFactory<DevOptions>): void {
  withGlobalOptions(
    program
      .command('dev')
      .description('start the stack as up does, then rebuild and restart (without downtime) each service whose code, kit, migrations, service.json or .env you save'),
  )
    .argument('[services...]', 'only these services (and what they need) are started and watched')
    .addOption(new Option('--runtime <runtime>', 'where to run the stack').choices(['auto', 'local', 'docker']).default('auto'))
    .option('--timeout <seconds>', 'per-service health timeout', positiveNumber('--timeout'), 90)
    .option('--offline', "docker runtime: do not try to pull images; build them from this machine's toolchain")
    .option('--no-typecheck', 'only bundle each save (esbuild), without type-checking it first')
    .action(
      action(([services], o) => ({
        services: (services as string[] | undefined) ?? [],
        runtime: o.runtime as RuntimeChoice,
        timeout: o.timeout as number,
        offline: Boolean(o.offline),
        typecheck: o.typecheck !== false,
        stopOnExit: false,
      })),
    );
}
