/**
 * What msctl asks of whatever runs the stack. Commands, the dashboard, load-test and chaos
 * receive a Runtime from openRuntime (select.ts) and call it; none of them knows which one runs
 * underneath, as Compose's commands call its backend's Service interface. There are two: local
 * processes under a detached supervisor (local/), and containers through the Docker Engine API
 * (docker/). Scaling is no operation of its own: the wanted counts are part of the plan that
 * `up` executes (start.ts: scaleStack), as Compose's scale sets replicas and converges.
 */
import type { ProgressSink } from '../core/events';
import type { ObservedTarget, UpPlan } from '../stack/plan';
import type { LogLine, RuntimeKind, StackStatus, TargetStatus } from './types';

/** How long a target gets to become healthy, unless its manifest says otherwise. */
export const DEFAULT_TIMEOUT_SECONDS = 90;

export interface RuntimeOpenOptions {
  /** Where msctl's built process entry points are (supervisor.js, docker-watcher.js); default: beside the bundle. */
  scriptsDir?: string;
}

export interface RuntimeObservation {
  /** Every target as it is now, for planUp. */
  targets: Map<string, ObservedTarget>;
  /** What `up --dry-run` should mention besides the plan (leftovers of a crashed supervisor). */
  note?: string;
}

export interface RuntimeUpOptions {
  timeoutSeconds: number;
  /** Aborting stops waiting; what was started goes on starting in the background. */
  signal?: AbortSignal;
  /** Relay the services' log lines as `log` events while starting. */
  logs?: boolean;
  /** Build images from this machine's toolchain instead of pulling (where images exist). */
  offline?: boolean;
}

export interface RestartOptions {
  timeoutSeconds?: number;
  /**
   * Only the service's bundle changed (`msctl dev` has just built it): a runtime that packages
   * code (docker's images) may put the new bundle into the new instance instead of building a
   * new image.
   */
  bundleOnly?: boolean;
}

export interface DownResult {
  stopped: string[];
  dataRemoved: boolean;
}

export interface LogRequest {
  targets: string[];
  /** The last N lines of each target (all when undefined). */
  tail?: number;
  since?: Date;
  follow: boolean;
  signal: AbortSignal;
}

export interface LogSink {
  /** The lines there were (merged by time where the runtime knows it), and the targets that have a log. */
  snapshot(lines: LogLine[], targets: string[]): void;
  /** A new line, while following. */
  line(line: LogLine): void;
}

export type ChaosAction = 'kill' | 'stop' | 'pause';

/** A target broken on purpose, and how it comes back. */
export interface Breakage {
  /** What was done, as sentences for the user. */
  said: string[];
  /** msctl restores it (restore is set), or the runtime's own restart brings it back. */
  restoredBy: 'msctl' | 'runtime';
  /** Undoes it; resolves to a sentence saying so. */
  restore?: () => Promise<string>;
}

/** `msctl exec`: a command run with a service's environment, wired to msctl's own stdin, stdout and stderr. */
export interface ExecRequest {
  /** The program and its arguments, run without a shell. */
  command: string[];
  /** Give the command a terminal (docker: an exec with Tty), when msctl's stdin is one. */
  tty: boolean;
}

export interface Runtime {
  /** For what the user reads ("healthy on the docker runtime"); nothing branches on it. */
  readonly kind: RuntimeKind;
  observe(): Promise<RuntimeObservation>;
  /** Executes a plan: cleans up after a crashed keeper, starts what the plan starts, keeps the stack kept. */
  up(plan: UpPlan, options: RuntimeUpOptions, sink: ProgressSink): Promise<void>;
  /** Every log line and state change until the signal aborts (`up` without -d). */
  attach(sink: ProgressSink, signal: AbortSignal): Promise<void>;
  down(options: { volumes: boolean }, sink: ProgressSink): Promise<DownResult>;
  /**
   * Restarts one target, gated on health; a service whose sources changed is rebuilt first. A
   * service (not the gateway) is replaced without downtime: its new instance is healthy and
   * routed to before the old one drains and stops; if the new one fails, the old one keeps serving.
   */
  restart(target: string, sink: ProgressSink, options?: RestartOptions): Promise<void>;
  status(): Promise<StackStatus>;
  logs(request: LogRequest, sink: LogSink): Promise<void>;
  /** Chaos: breaks a running target; `forMs` only words what is said. */
  breakTarget(target: TargetStatus, action: ChaosAction, forMs: number, sink: ProgressSink): Promise<Breakage>;
  /** Where the services send their spans: msctl's receiver, or the collector the user named. */
  traceEndpoint(): Promise<string | undefined>;
  /** The environment a service instance ("users", "users#2") is started with on this runtime, overrides included. */
  environment(target: string): Promise<Record<string, string>>;
  /** Runs a command with a service instance's environment (local: in its folder; docker: in its container); resolves to its exit code. */
  exec(target: string, request: ExecRequest): Promise<number>;
}
