/** `msctl dev [services...]` (and `msctl up --watch`): its flags and options. */
import type { Command } from 'commander';
import type { RuntimeChoice } from '../../../runtime/select';
import { type ActionFactory, withGlobalOptions } from '../../command';
import { startOptionsOf, withStartOptions } from '../up/command';

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
  withStartOptions(
    withGlobalOptions(
      program
        .command('dev')
        .description('start the stack as up does, then rebuild and restart (without downtime) each service whose code, kit, migrations, service.json or .env you save'),
    ),
  )
    .argument('[services...]', 'only these services (and what they need) are started and watched')
    .option('--no-typecheck', 'only bundle each save (esbuild), without type-checking it first')
    .action(
      action(([services], o) => ({
        ...startOptionsOf(o),
        services: (services as string[] | undefined) ?? [],
        typecheck: o.typecheck !== false,
        stopOnExit: false,
      })),
    );
}
