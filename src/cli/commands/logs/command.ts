/** `msctl logs [services...]`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, wholeNumber, withGlobalOptions } from '../../command';

export interface LogsOptions {
  services: string[];
  follow: boolean;
  /** Last N lines per log (undefined: all). */
  tail: number | undefined;
  /** As typed: ISO time or relative (10m, 2h, 30s); run.ts parses it. */
  since: string | undefined;
  raw: boolean;
}

export function register(program: Command, action: ActionFactory<LogsOptions>): void {
  withGlobalOptions(program.command('logs').description('print the logs of services and infrastructure (all when none named)'))
    .argument('[services...]', 'services, kafka or postgres')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C (then exit 130)')
    .option('-n, --tail <lines>', 'only the last N lines of each log', wholeNumber('--tail'))
    .option('--since <time>', 'only lines since a time: ISO 8601, or relative like 30s, 10m, 2h, 1d')
    .option('--raw', 'print lines as stored (no pretty-printing of JSON logs)')
    .action(
      action(([services], o) => ({
        services: (services as string[] | undefined) ?? [],
        follow: Boolean(o.follow),
        tail: o.tail as number | undefined,
        since: o.since as string | undefined,
        raw: Boolean(o.raw),
      })),
    );
}
