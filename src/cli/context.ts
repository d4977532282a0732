/**
 * What every command gets besides its own options: the global flags, the streams, an
 * AbortSignal that SIGINT/SIGTERM abort, and the progress renderer that fits the output
 * (JSON lines with --json, the ink view on a TTY, plain lines otherwise).
 */
import type { ProgressBus, ProgressEvent } from '../core/events';
import { createJsonRenderer } from './output/json';
import { createPlainRenderer } from './output/plain';
import type { ProgressRenderer } from './output/renderer';

export type { ProgressRenderer } from './output/renderer';

export interface CliContext {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  isTTY: boolean;
  /** Aborted on SIGINT/SIGTERM; the reason is MsctlError('INTERRUPTED'). */
  signal: AbortSignal;
  /** A new renderer for progress events: json | tty | plain. Close it when the work is over. */
  renderer(): ProgressRenderer;
}

/** What a command module exports. A returned number is the exit code (default 0). */
export type CommandRun<O> = (options: O, context: CliContext) => Promise<number | void>;

// ---- the options of each command, as main.ts passes them ----

export type RuntimeChoice = 'auto' | 'local' | 'docker';

export interface UpOptions {
  services: string[];
  detach: boolean;
  dryRun: boolean;
  runtime: RuntimeChoice;
  /** Per-service health timeout in seconds (default 90). */
  timeout: number;
  /** Docker runtime: build images locally instead of pulling the official ones. */
  offline: boolean;
}

export interface DownOptions {
  volumes: boolean;
}

export interface StatusOptions {
  watch: boolean;
  /** Seconds between refreshes with --watch (default 2). */
  interval?: number;
}

export interface DashboardOptions {
  /** Seconds between polls of /health and /metrics (default 1). */
  interval: number;
}

export interface LogsOptions {
  services: string[];
  follow: boolean;
  /** Last N lines per log (undefined: all). */
  tail: number | undefined;
  /** As typed: ISO time or relative (10m, 2h, 30s); logs.ts parses it. */
  since: string | undefined;
  raw: boolean;
}

export interface RestartOptions {
  service: string;
}

export interface ChaosOptions {
  action: string;
  target: string;
  /** As typed: 15s, 500ms, 2m. */
  for: string;
}

export interface ScaleOptions {
  /** "service=count" arguments. */
  targets: string[];
  timeout: number;
}

export type DoctorOptions = Record<string, never>;

/** `msctl load-test [scenario]`. */
export interface LoadTestOptions {
  /** users | ingest | read | mixed, or a YAML/JSON scenario file. */
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

/** `msctl scaffold new-service <name>`: choices left undefined are asked on a terminal, else defaulted. */
export interface ScaffoldNewServiceOptions {
  input: import('../scaffold/new-service').NewServiceInput;
  /** Take the defaults without asking. */
  yes: boolean;
}

/** `msctl topics <action>`: --brokers (host:port,…) overrides the running stack's broker. */
export type TopicsOptions =
  | { action: 'list'; brokers?: string; all: boolean }
  | { action: 'describe'; brokers?: string; topic: string }
  | {
      action: 'tail';
      brokers?: string;
      topics: string[];
      /** As typed: beginning|end|<offset>|-<n>|<ISO time>|<duration>; default end (beginning with --exit). */
      from?: string;
      exit: boolean;
      max?: number;
      partitions?: number[];
      key?: string;
      type?: string;
      where: string[];
      grep?: string;
      format: 'pretty' | 'json' | 'raw';
    }
  | { action: 'produce'; brokers?: string; topic: string; values: string[]; key?: string; headers: string[]; cloudevent?: string; partition?: number }
  | { action: 'groups'; brokers?: string; group?: string }
  | ({ action: 'dlq'; brokers?: string; topic?: string } & DeadLetterSelectors)
  | ({ action: 'dlq-replay'; brokers?: string; topic: string; dryRun: boolean } & DeadLetterSelectors)
  | {
      action: 'reset-offsets';
      brokers?: string;
      group: string;
      /** `topic` or `topic:0,2`, as typed; empty with allTopics. */
      topics: string[];
      allTopics: boolean;
      to: { earliest: boolean; latest: boolean; datetime?: string; offset?: number; shiftBy?: number };
      execute: boolean;
    };

/** Which dead letters `topics dlq` and `topics dlq replay` take. */
export interface DeadLetterSelectors {
  group?: string;
  errorClass?: string;
  key?: string;
  type?: string;
  where: string[];
  grep?: string;
  max?: number;
}

/** `msctl export k8s|compose`. */
export type ExportOptions =
  | { target: 'k8s'; out: string | undefined; registry: string | undefined; tag: string | undefined; build: boolean; offline: boolean }
  | { target: 'compose'; out: string | undefined; offline: boolean };

/** `msctl token --client <name>`: a service client's token. */
export interface TokenOptions {
  client: string;
  scopes: string[];
  ttl: string;
}

/** `msctl traces [id]`: durations and times as typed; traces.ts parses them. */
export interface TracesOptions {
  id: string | undefined;
  service: string | undefined;
  minDuration: string | undefined;
  since: string | undefined;
  limit: number;
}

export interface ContextInit {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
  signal: AbortSignal;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * The TTY renderer lives in a chunk of its own (ink, React): it is imported on first use and
 * the events that arrive meanwhile are queued.
 */
function lazyTtyRenderer(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream, color: boolean): ProgressRenderer {
  const queued: ProgressEvent[] = [];
  let real: ProgressRenderer | undefined;
  const ready = import('./output/tty').then(
    ({ createTtyRenderer }) => {
      real = createTtyRenderer({ stdout, stderr, color });
      for (const event of queued.splice(0)) real.render(event);
      return real;
    },
    () => {
      // ink cannot load (a broken install): plain lines still work.
      real = createPlainRenderer({ out: stdout, color });
      for (const event of queued.splice(0)) real.render(event);
      return real;
    },
  );
  const render = (event: ProgressEvent) => (real ? real.render(event) : void queued.push(event));
  return {
    kind: 'tty',
    attach: (bus: ProgressBus) => bus.subscribe(render),
    render,
    close: async () => (await ready).close(),
  };
}

export function createContext(init: ContextInit): CliContext {
  const stdout = init.stdout ?? process.stdout;
  const stderr = init.stderr ?? process.stderr;
  const env = init.env ?? process.env;
  const isTTY = stdout.isTTY === true;
  return {
    json: init.json,
    color: init.color,
    verbose: init.verbose,
    projectDir: init.projectDir,
    stdout,
    stderr,
    isTTY,
    signal: init.signal,
    renderer: () => {
      if (init.json) return createJsonRenderer({ out: stdout });
      if (isTTY && env.TERM !== 'dumb') return lazyTtyRenderer(stdout, stderr, init.color);
      return createPlainRenderer({ out: stdout, color: init.color });
    },
  };
}
