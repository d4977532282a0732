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
  /** Each line's time before it, as `docker compose logs -t`. */
  timestamps?: boolean;
  /** As typed, same grammar as since; run.ts parses it. */
  until?: string | undefined;
  /** False: no `<name> | ` before each line (default true). */
  logPrefix?: boolean;
  /** Only the lines of this trace (its id, or the start of it). */
  trace?: string | undefined;
}

export function register(program: Command, action: ActionFactory<LogsOptions>): void {
  withGlobalOptions(program.command('logs').description('print the logs of services and infrastructure (all when none named)'))
    .argument('[services...]', 'services, kafka or postgres')
    .option('-f, --follow', 'keep printing new lines until Ctrl-C (then exit 130)')
    .option('-n, --tail <lines>', 'only the last N lines of each log', wholeNumber('--tail'))
    .option('--since <time>', 'only lines since a time: ISO 8601, or relative like 30s, 10m, 2h, 1d')
    .option('--until <time>', 'only lines until a time: ISO 8601, or relative like 30s, 10m, 2h, 1d')
    .option('-t, --timestamps', "print each line's time before it")
    .option('--no-log-prefix', 'no service name before each line')
    .option('--trace <id>', 'only the lines of one trace, across services (its id, or the start of it, as msctl traces shows it)')
    .option('--raw', 'print lines as stored (no pretty-printing of JSON logs)')
    .action(
      action(([services], o) => ({
        services: (services as string[] | undefined) ?? [],
        follow: Boolean(o.follow),
        tail: o.tail as number | undefined,
        since: o.since as string | undefined,
        raw: Boolean(o.raw),
        timestamps: Boolean(o.timestamps),
        until: o.until as string | undefined,
        logPrefix: o.logPrefix !== false,
        trace: o.trace as string | undefined,
      })),
    );
}
