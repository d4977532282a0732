import CircuitBreaker from 'opossum';
import type { ServiceMetrics } from './metrics';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitSnapshot {
  name: string;
  state: CircuitState;
  /** Counts over the rolling window. */
  stats: { fires: number; successes: number; failures: number; timeouts: number; rejects: number };
  /** When the breaker is open: milliseconds until it lets one trial call through. */
  retryInMs?: number;
}

export interface BreakerOptions {
  /** Milliseconds after which a call counts as failed. */
  timeoutMs: number;
  /** Milliseconds an open breaker waits before letting one trial call through (half-open). */
  resetMs: number;
  errorThresholdPercent: number;
  /** Calls in the window before the error rate may open the breaker. */
  volumeThreshold: number;
  /** Errors for which this returns false do not count against the dependency (e.g. a 409 from PostgreSQL). */
  isDependencyFailure?: (error: unknown) => boolean;
}

/** Thrown instead of calling the dependency while its breaker is open. */
export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  constructor(
    readonly breaker: string,
    readonly retryInMs: number,
  ) {
    super(`${breaker} is unavailable (circuit open)`);
  }
}


/**
 * A named circuit breaker (opossum). Closed: calls pass. Enough failures in the window:
 * open, calls fail at once with CircuitOpenError. After resetMs: half-open, and exactly one
 * trial call goes through (opossum rejects the others while it runs); its outcome closes
 * or re-opens the breaker.
 */
export class Circuit {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private openedAt = 0;

  constructor(
    readonly name: string,
    private readonly options: BreakerOptions,
    metrics?: ServiceMetrics,
  ) {
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => call(), {
      name,
      timeout: options.timeoutMs,
      resetTimeout: options.resetMs,
      errorThresholdPercentage: options.errorThresholdPercent,
      volumeThreshold: options.volumeThreshold,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
      // Latency percentiles and per-second snapshots are the service metrics' business: opossum
      // would keep every call's latency of the window and sort them all each second.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      errorFilter: options.isDependencyFailure ? (error: unknown) => !options.isDependencyFailure!(error) : undefined,
    });
    this.breaker.on('open', () => {
      this.openedAt = Date.now();
    });
    if (metrics) this.report(metrics);
  }

  /** Runs `call` through the breaker. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return (await this.breaker.fire(call)) as T;
    } catch (error) {
      if ((error as { code?: string }).code === 'EOPENBREAKER') {
        throw new CircuitOpenError(this.name, this.retryInMs());
      }
      if ((error as { code?: string }).code === 'ETIMEDOUT' && !(error instanceof CircuitOpenError)) {
        throw Object.assign(new Error(`${this.name}: no answer within ${this.options.timeoutMs} ms`), {
          code: 'ETIMEDOUT',
          cause: error,
        });
      }
      throw error;
    }
  }

  /**
   * For work that is expensive before it reaches the dependency (hashing a password, say):
   * while open, refuses at once as `run` would, counted as a reject. Closed or half-open it
   * does nothing, so the half-open trial is left for the real call.
   */
  async rejectWhileOpen(): Promise<void> {
    if (this.breaker.opened) await this.run(async () => undefined);
  }

  get state(): CircuitState {
    if (this.breaker.opened) return 'open';
    if (this.breaker.halfOpen) return 'half-open';
    return 'closed';
  }

  retryInMs(): number {
    return this.state === 'open' ? Math.max(0, this.openedAt + this.options.resetMs - Date.now()) : 0;
  }

  snapshot(): CircuitSnapshot {
    const stats = this.breaker.stats;
    const snapshot: CircuitSnapshot = {
      name: this.name,
      state: this.state,
      stats: {
        fires: stats.fires,
        successes: stats.successes,
        failures: stats.failures,
        timeouts: stats.timeouts,
        rejects: stats.rejects,
      },
    };
    if (snapshot.state === 'open') snapshot.retryInMs = this.retryInMs();
    return snapshot;
  }

  shutdown(): void {
    this.breaker.shutdown();
  }

  private report(metrics: ServiceMetrics): void {
    const stateValue = { closed: 0, 'half-open': 1, open: 2 } as const;
    const setState = () => metrics.breakerState.set({ breaker: this.name }, stateValue[this.state]);
    setState();
    const outcomes: Record<string, string> = { success: 'success', failure: 'failure', timeout: 'timeout', reject: 'reject' };
    const transitions: Record<string, string> = { open: 'open', halfOpen: 'half_open', close: 'close' };
    // Outcomes come with every call: tallied. The state moves only with a transition.
    for (const [event, label] of Object.entries(outcomes)) {
      this.breaker.on(event as 'success', () => metrics.countBreakerEvent(this.name, label));
    }
    for (const [event, label] of Object.entries(transitions)) {
      this.breaker.on(event as 'open', () => {
        metrics.countBreakerEvent(this.name, label);
        setState();
      });
    }
  }
}

/** Every breaker of one service, so /health and /metrics can list them all. */
export class CircuitRegistry {
  private readonly circuits = new Map<string, Circuit>();

  constructor(
    private readonly defaults: BreakerOptions,
    private readonly metrics?: ServiceMetrics,
  ) {}

  get(name: string, overrides: Partial<BreakerOptions> = {}): Circuit {
    let circuit = this.circuits.get(name);
    if (!circuit) {
      circuit = new Circuit(name, { ...this.defaults, ...overrides }, this.metrics);
      this.circuits.set(name, circuit);
    }
    return circuit;
  }

  snapshot(): CircuitSnapshot[] {
    return [...this.circuits.values()].map((circuit) => circuit.snapshot());
  }

  shutdown(): void {
    for (const circuit of this.circuits.values()) circuit.shutdown();
  }
}

