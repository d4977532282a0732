/** `msctl up [services...]`: its flags and options. */
import { type Command, Option } from 'commander';
import type { RuntimeChoice } from '../../../runtime/select';
import { DEFAULT_TIMEOUT_SECONDS } from '../../../runtime/runtime';
import { type ActionFactory, positiveNumber, withGlobalOptions } from '../../command';

export interface UpOptions {
  services: string[];
  detach: boolean;
  dryRun: boolean;
  runtime: RuntimeChoice;
  /** Per-service health timeout in seconds (default DEFAULT_TIMEOUT_SECONDS). */
  timeout: number;
  /** Docker runtime: build images locally instead of pulling the official ones. */
  offline: boolean;
  /** Then reload what is saved, as `msctl dev` does; Ctrl-C stops the stack as `up` does. */
  watch: boolean;
}

export function register(program: Command, action: ActionFactory<UpOptions>): void {
  withStartOptions(withGlobalOptions(program.command('up').description('build what is stale, start infrastructure and services in dependency order, wait for health')))
    .argument('[services...]', 'only these services (and what they need)')
    .option('-d, --detach', 'return once everything is healthy; a supervisor keeps it running')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--watch', 'then rebuild and restart each service whose files are saved, as msctl dev does (Ctrl-C stops the stack)')
    .action(
      action(([services], o) => ({
        ...startOptionsOf(o),
        services: (services as string[] | undefined) ?? [],
        detach: Boolean(o.detach),
        dryRun: Boolean(o.dryRun),
        watch: Boolean(o.watch),
      })),
    );
}

/** How a stack starts, for `up` and `dev` alike: where, with what health timeout, pulling or not. */
export function withStartOptions(command: Command): Command {
  return command
    .addOption(new Option('--runtime <runtime>', 'where to run the stack').choices(['auto', 'local', 'docker']).default('auto'))
    .option('--timeout <seconds>', 'per-service health timeout', positiveNumber('--timeout'), DEFAULT_TIMEOUT_SECONDS)
    .option('--offline', "docker runtime: do not try to pull images; build them from this machine's toolchain");
}

export const startOptionsOf = (o: Record<string, unknown>): Pick<UpOptions, 'runtime' | 'timeout' | 'offline'> => ({
  runtime: o.runtime as RuntimeChoice,
  timeout: o.timeout as number,
  offline: Boolean(o.offline),
});
