/** `msctl load-test [scenario]`: its flags and options. */
import type { Command } from 'commander';
import { type ActionFactory, durationSeconds, positiveNumber, wholeNumber, withGlobalOptions } from '../../command';

/** `msctl load-test [scenario]`. */
export interface LoadTestOptions {
  /** users | ingest | notifications | analytics | read | mixed, or a YAML/JSON scenario file. */
  scenario: string;
  /** Seconds measured. */
  duration: number;
  /** Seconds of load before measuring (not counted). */
  warmup: number;
  connections: number;
  /** Fixed arrival rate, requests/s: the open model. */
  rate: number | undefined;
  /** autocannon worker threads (closed model). */
  workers: number | undefined;
  /** Users signed up before the clock starts (their tokens spread the per-client rate limit). */
  users: number;
  /** Per-request timeout in seconds. */
  timeout: number;
  /** SLO file (YAML/JSON); default: the built-in table. */
  slo: string | undefined;
  /** HTML report path. */
  report: string | undefined;
  /** Restart the gateway with this per-client rate limit first (per-stack setting). */
  raiseRateLimit: number | undefined;
}

export function register(program: Command, action: ActionFactory<LoadTestOptions>): void {
  withGlobalOptions(
    program
      .command('load-test')
      .description('load the running stack through the gateway (autocannon; --rate for a fixed arrival rate), judge SLOs (exit 3 when violated)'),
  )
    .argument('[scenario]', 'users | ingest | notifications | analytics | read | mixed, or a YAML/JSON scenario file', 'mixed')
    // No -d (detach, as in `up -d`), -w (--where in topics) nor -c (psql's --command): one letter, one meaning across msctl.
    .option('--duration <duration>', 'how long to measure: 30s, 2m (a bare number is seconds)', durationSeconds('--duration'), 10)
    .option('--warmup <seconds>', 'seconds of load before measuring (not counted)', wholeNumber('--warmup'), 0)
    .option('--connections <n>', 'concurrent connections', positiveNumber('--connections'), 10)
    .option('-r, --rate <rps>', 'fixed arrival rate (open model, coordinated omission corrected) instead of the closed model', positiveNumber('--rate'))
    .option('--workers <n>', 'autocannon worker threads, to get past one core (closed model)', positiveNumber('--workers'))
    .option('--users <n>', 'users signed up and logged in before the clock starts', positiveNumber('--users'), 10)
    .option('--timeout <seconds>', 'per-request timeout', positiveNumber('--timeout'), 10)
    .option('--slo <file>', 'SLO table (YAML/JSON); default: the built-in table')
    .option('--report <file.html>', 'write a self-contained HTML report')
    .option('--raise-rate-limit [perSecond]', "restart the gateway with a higher per-client rate limit first (kept in .msctl/settings.json)", positiveNumber('--raise-rate-limit'))
    .action(
      action(([scenario], o) => ({
        scenario: scenario as string,
        duration: o.duration as number,
        warmup: o.warmup as number,
        connections: Math.round(o.connections as number),
        rate: o.rate as number | undefined,
        workers: o.workers === undefined ? undefined : Math.round(o.workers as number),
        users: Math.round(o.users as number),
        timeout: o.timeout as number,
        slo: o.slo as string | undefined,
        report: o.report as string | undefined,
        raiseRateLimit: o.raiseRateLimit === true ? 1_000_000 : (o.raiseRateLimit as number | undefined),
      })),
    );
}
