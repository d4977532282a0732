/** `msctl traces [id]`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, wholeNumber, withGlobalOptions } from '../../command';

/** `msctl traces [id]`: durations and times as typed; run.ts parses them. */
export interface TracesOptions {
  id: string | undefined;
  service: string | undefined;
  minDuration: string | undefined;
  since: string | undefined;
  limit: number;
}

export function register(program: Command, action: ActionFactory<TracesOptions>): void {
  withGlobalOptions(program.command('traces').description('recent traces (root operation, services, spans, duration, errors); `traces <id>` draws one as a waterfall'))
    .argument('[id]', 'a trace id (or a unique prefix of one)')
    .option('--service <name>', 'only traces that touch this service')
    .option('--min-duration <duration>', 'only traces at least this long: 50ms, 1.5s')
    .option('--since <time>', 'only traces started since: 30s, 5m, 2h, or an ISO time')
    .option('-n, --limit <count>', 'at most this many traces, newest first', wholeNumber('--limit'), 20)
    .addHelpText(
      'after',
      '\nSampling: each service starts up to 10 new traces a second ("tracesPerSecond" in .msctl/settings.json: a number, or "all"),\nand traces every request that arrives with a sampled traceparent header (00-<32 hex>-<16 hex>-01).',
    )
    .action(
      action(([id], o) => ({
        id: id as string | undefined,
        service: o.service as string | undefined,
        minDuration: o.minDuration as string | undefined,
        since: o.since as string | undefined,
        limit: o.limit as number,
      })),
    );
}
