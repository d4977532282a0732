/**
 * The shapes every runtime shares: what `msctl status --json` prints, and the /health document
 * the services write. Declared once, here; both runtimes and everything above them use these.
 */

export type RuntimeKind = 'local' | 'docker';
export type RuntimeChoice = RuntimeKind | 'auto';

/** One row of `msctl status`; the JSON shape is documented in docs/runtimes.md. */
export interface TargetStatus {
  name: string;
  kind: 'infrastructure' | 'service';
  state: string;
  health: HealthStatus;
  pid: number | null;
  /** What `msctl ps -q` prints: the container id on docker, the pid (as text) on local; null when nothing runs. */
  id?: string | null;
  port: number | null;
  uptimeSeconds: number | null;
  restarts: number;
  /** How the last process of this target ended: code 0 and no signal is a clean exit. Null until one has ended. */
  lastExit: { code: number | null; signal: string | null; at: string } | null;
  /** Per-dependency health as the service reports it. */
  checks: Record<string, string>;
  /** Every circuit breaker and its state. */
  circuits: Record<string, string>;
  /** Why each check that does not pass says so: "kafka:consumer:analytics": "stalled on events.processed[0] at offset 28350 for 42 s: …". */
  problems: Record<string, string>;
  detail: string | null;
}

export interface StackStatus {
  runtime: RuntimeKind;
  project: string;
  /** What keeps the stack running: the local supervisor, or docker's watcher. */
  supervisor: { state: 'running' | 'stale' | 'none'; pid: number | null };
  /** True when every service of the stack is healthy. */
  healthy: boolean;
  targets: TargetStatus[];
}

/** A service's /health document (application/health+json, as services/kit writes it). */
export type HealthStatus = 'pass' | 'warn' | 'fail' | 'unknown';

export interface HealthDocument {
  status?: string;
  /** A consumer's check also says how far behind it is (observedValue) and what it dead-lettered lately. */
  checks?: Record<string, Array<{ status?: string; output?: string; observedValue?: number; deadLetters5m?: number }>>;
  circuits?: Array<{ name: string; state: string; stats?: { failures?: number; rejects?: number }; retryInMs?: number }>;
}

/** The health document reduced to what the runtimes keep per target. */
export interface HealthSummary {
  status: HealthStatus;
  /** "postgres:connection": "pass", "kafka:consumer:analytics": "warn"… */
  checks: Record<string, string>;
  circuits: Record<string, string>;
  /** Check → its output, for every check that does not pass and says why. */
  problems: Record<string, string>;
}

/** One line of a target's log. */
export interface LogLine {
  /** The log it came from (the service or kafka/postgres). */
  target: string;
  /** The line as the process wrote it (stamp removed). */
  text: string;
  /** When it was written (local: the supervisor's stamp; docker: the Engine's); undefined when nothing told. */
  time: Date | undefined;
}
