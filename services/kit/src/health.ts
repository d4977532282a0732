import type { CircuitRegistry, CircuitSnapshot } from './circuit-breaker';

export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One dependency check result, in the shape of the application/health+json draft (which allows more fields). */
export interface CheckResult {
  componentType: 'datastore' | 'component' | 'system';
  status: HealthStatus;
  observedValue: number;
  observedUnit: string;
  time: string;
  output?: string;
  [detail: string]: unknown;
}

/** What a check that reads the service's own state (no probe to run) reports. */
export interface CheckReport {
  status: HealthStatus;
  observedValue: number;
  observedUnit: string;
  output?: string;
  [detail: string]: unknown;
}

export interface HealthReport {
  status: HealthStatus;
  serviceId: string;
  version: string;
  description: string;
  uptimeSeconds: number;
  checks: Record<string, CheckResult[]>;
  circuits: CircuitSnapshot[];
}

export type DependencyCheck = {
  /** "component:measurement", e.g. "postgres:connection". */
  name: string;
  componentType: CheckResult['componentType'];
} & (
  | {
      /** Throws when the dependency is not usable. A check that only degrades the service is `critical: false`. */
      probe: () => Promise<void>;
      critical?: boolean;
    }
  | {
      /** Reads the service's own state; its status counts as it is (warn degrades, fail fails). */
      report: () => CheckReport;
    }
);

const CHECK_TIMEOUT_MS = 2_000;

export const HEALTH_CONTENT_TYPE = 'application/health+json';

export interface HealthReporterOptions {
  /**
   * How long a dependency probe's answer stands for every caller; 0 (the default) probes on
   * every call, and a service takes HEALTH_PROBE_MAX_AGE_MS (1 s unless set). The supervisor,
   * the gateway (for its upstreams), `msctl dashboard` and `msctl status` (on Docker) ask
   * every second or so: one probe per dependency per window answers them all, where each would
   * otherwise cost a PostgreSQL round trip and a Kafka metadata request. Only a pass is
   * reused, and not once a breaker has seen a call fail since. A check of the service's own
   * state (a consumer's progress) and the breakers are read fresh on every call.
   */
  probeMaxAgeMs?: number;
  now?: () => number;
}

/**
 * What a probe answered: `at` is undefined while it runs (callers join it); `passed` once it
 * answered; `trouble` is what the breakers had seen go wrong when it was asked.
 */
interface ProbeAnswer {
  result: Promise<CheckResult>;
  at: number | undefined;
  passed: boolean | undefined;
  trouble: number;
}

/**
 * A count that changes whenever a breaker sees a call go wrong or leaves closed: a probe's
 * passing answer taken before stands no longer.
 */
function troubleOf(circuits: CircuitSnapshot[]): number {
  let trouble = 0;
  for (const { state, stats } of circuits) trouble += stats.failures + stats.timeouts + stats.rejects + (state === 'closed' ? 0 : 1);
  return trouble;
}

/**
 * Builds the /health answer: every check with its latency, every circuit breaker.
 * fail when a critical check fails or the service is shutting down; warn when a
 * non-critical check fails or a breaker is not closed; pass otherwise.
 */
export class HealthReporter {
  private readonly checks: DependencyCheck[] = [];
  private readonly answers = new Map<DependencyCheck, ProbeAnswer>();
  private readonly startedAt = Date.now();
  private readonly probeMaxAgeMs: number;
  private readonly now: () => number;
  private shuttingDown = false;

  constructor(
    private readonly service: string,
    private readonly version: string,
    private readonly circuits: CircuitRegistry,
    options: HealthReporterOptions = {},
  ) {
    this.probeMaxAgeMs = options.probeMaxAgeMs ?? 0;
    this.now = options.now ?? (() => performance.now());
  }

  addCheck(check: DependencyCheck): void {
    this.checks.push(check);
  }

  /** A dependency that is gone (the gateway's routing table dropped an instance). */
  removeCheck(name: string): void {
    const index = this.checks.findIndex((check) => check.name === name);
    if (index === -1) return;
    this.answers.delete(this.checks[index]!);
    this.checks.splice(index, 1);
  }

  markShuttingDown(): void {
    this.shuttingDown = true;
  }

  /**
   * The probe's standing answer: the one running, or a pass younger than probeMaxAgeMs that no
   * breaker has contradicted since; else a new one. A failure is never reused, so that a
   * dependency that comes back shows at once.
   */
  private probe(check: DependencyCheck, trouble: number): Promise<CheckResult> {
    const standing = this.answers.get(check);
    if (standing && (standing.at === undefined || (standing.passed && standing.trouble === trouble && this.now() - standing.at < this.probeMaxAgeMs))) return standing.result;
    const answer: ProbeAnswer = { result: runCheck(check), at: undefined, passed: undefined, trouble };
    void answer.result.then((result) => {
      answer.at = this.now();
      answer.passed = result.status === 'pass';
    });
    this.answers.set(check, answer);
    return answer.result;
  }

  async report(): Promise<HealthReport> {
    const trouble = troubleOf(this.circuits.snapshot());
    const results = await Promise.all(this.checks.map((check) => ('report' in check || this.probeMaxAgeMs === 0 ? runCheck(check) : this.probe(check, trouble))));
    const checks: Record<string, CheckResult[]> = {};
    let status: HealthStatus = 'pass';
    results.forEach((result, index) => {
      const check = this.checks[index]!;
      checks[check.name] = [result];
      if ('report' in check) status = worst(status, result.status);
      else if (result.status === 'fail') status = check.critical === false ? worst(status, 'warn') : 'fail';
    });
    const circuits = this.circuits.snapshot();
    if (circuits.some((circuit) => circuit.state !== 'closed')) status = worst(status, 'warn');
    if (this.shuttingDown) status = 'fail';
    return {
      status,
      serviceId: this.service,
      version: this.version,
      description: this.shuttingDown ? `${this.service} is shutting down` : `${this.service} health`,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      checks,
      circuits,
    };
  }
}

function worst(a: HealthStatus, b: HealthStatus): HealthStatus {
  const rank = { pass: 0, warn: 1, fail: 2 } as const;
  return rank[a] >= rank[b] ? a : b;
}

async function runCheck(check: DependencyCheck): Promise<CheckResult> {
  if ('report' in check) return { componentType: check.componentType, ...check.report(), time: new Date().toISOString() };
  const started = performance.now();
  let output: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check.probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    output = error instanceof Error ? error.message : String(error);
  } finally {
    clearTimeout(timer);
  }
  const result: CheckResult = {
    componentType: check.componentType,
    status: output === undefined ? 'pass' : 'fail',
    observedValue: Math.round((performance.now() - started) * 100) / 100,
    observedUnit: 'ms',
    time: new Date().toISOString(),
  };
  if (output !== undefined) result.output = output;
  return result;
}
