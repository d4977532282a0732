/**
 * The server side of a run, from every service's `/metrics` (Prometheus text): requests served
 * per service, Kafka messages produced, records dead-lettered, and every circuit breaker's
 * state — before, after, and each change seen while polling once a second; and, from /health
 * at the end, every consumer group that is stalled or stopped.
 */
import { consumerGroupOf, summarizeHealth } from '../runtime/health';
import type { HealthDocument } from '../runtime/types';
import type { BreakerChange, ServiceSide } from './types';
import { parsePrometheus, type Sample } from '../core/prometheus';

/** Not load served: probes, scrapes, and 404s without a route (the load generator's drain requests among them). */
const NOT_SERVED = new Set(['/health', '/metrics', 'unmatched']);

export const BREAKER_STATES: Record<number, string> = { 0: 'closed', 1: 'half-open', 2: 'open' };

export interface ServiceSnapshot {
  reachable: boolean;
  requests: number;
  kafkaProduced: number;
  deadLetters: number;
  breakers: Record<string, string>;
  breakerEvents: Record<string, { open: number; halfOpen: number; close: number }>;
}

export function snapshotOf(samples: Sample[]): ServiceSnapshot {
  const snapshot: ServiceSnapshot = { reachable: true, requests: 0, kafkaProduced: 0, deadLetters: 0, breakers: {}, breakerEvents: {} };
  for (const s of samples) {
    if (s.name === 'http_request_duration_seconds_count' && !NOT_SERVED.has(s.labels.route ?? '')) snapshot.requests += s.value;
    else if (s.name === 'kafka_messages_produced_total') snapshot.kafkaProduced += s.value;
    else if (s.name === 'kafka_dead_letters_total') snapshot.deadLetters += s.value;
    else if (s.name === 'circuit_breaker_state' && s.labels.breaker) snapshot.breakers[s.labels.breaker] = BREAKER_STATES[s.value] ?? String(s.value);
    else if (s.name === 'circuit_breaker_events_total' && s.labels.breaker) {
      const events = (snapshot.breakerEvents[s.labels.breaker] ??= { open: 0, halfOpen: 0, close: 0 });
      if (s.labels.event === 'open') events.open += s.value;
      else if (s.labels.event === 'half_open') events.halfOpen += s.value;
      else if (s.labels.event === 'close') events.close += s.value;
    }
  }
  return snapshot;
}

export type Fetcher = (url: string) => Promise<string>;

export const httpFetcher: Fetcher = async (url) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return response.text();
};

/** /health answers 503 with its body when failing: the body is what matters. */
export const healthFetcher: Fetcher = async (url) => {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return response.text();
};

/** Consumer groups whose `kafka:consumer:<group>` check does not pass, from each service's /health. */
export async function consumerProblems(health: Record<string, string>, fetcher: Fetcher): Promise<ServiceSide['consumers']> {
  const found = await Promise.all(
    Object.entries(health).map(async ([service, url]) => {
      let summary: ReturnType<typeof summarizeHealth>;
      try {
        summary = summarizeHealth(JSON.parse(await fetcher(url)) as HealthDocument);
      } catch {
        return [];
      }
      return Object.entries(summary.checks).flatMap(([check, status]) => {
        const group = consumerGroupOf(check);
        return group !== undefined && status !== 'pass' ? [{ service, group, status, output: summary.problems[check] ?? status }] : [];
      });
    }),
  );
  return found.flat();
}

const UNREACHABLE: ServiceSnapshot = { reachable: false, requests: 0, kafkaProduced: 0, deadLetters: 0, breakers: {}, breakerEvents: {} };

export async function snapshotAll(services: Record<string, string>, fetcher: Fetcher): Promise<Record<string, ServiceSnapshot>> {
  const entries = await Promise.all(
    Object.entries(services).map(async ([name, url]) => {
      try {
        return [name, snapshotOf(parsePrometheus(await fetcher(url)))] as const;
      } catch {
        return [name, UNREACHABLE] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}

/** Polls /metrics once a second during the run and keeps every breaker state change. */
export class MetricsWatcher {
  private before: Record<string, ServiceSnapshot> = {};
  private last: Record<string, ServiceSnapshot> = {};
  private readonly changes: BreakerChange[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> = Promise.resolve();

  constructor(
    /** Service name → its /metrics URL. */
    private readonly services: Record<string, string>,
    private readonly fetcher: Fetcher = httpFetcher,
    private readonly now: () => Date = () => new Date(),
    /** Service name → its /health URL, read once at the end for the consumers' state. */
    private readonly health: { urls: Record<string, string>; fetcher: Fetcher } = { urls: {}, fetcher: healthFetcher },
  ) {}

  async start(): Promise<void> {
    this.before = await snapshotAll(this.services, this.fetcher);
    this.last = this.before;
    this.timer = setInterval(() => {
      this.polling = this.poll();
    }, 1_000);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const current = await snapshotAll(this.services, this.fetcher);
    this.noteChanges(current);
  }

  private noteChanges(current: Record<string, ServiceSnapshot>): void {
    const at = this.now().toISOString();
    for (const [service, snapshot] of Object.entries(current)) {
      if (!snapshot.reachable) continue;
      const previous = this.last[service];
      for (const [breaker, state] of Object.entries(snapshot.breakers)) {
        const was = previous?.breakers[breaker];
        if (was !== undefined && was !== state) this.changes.push({ at, service, breaker, from: was, to: state });
      }
      this.last = { ...this.last, [service]: snapshot };
    }
  }

  /** Stops polling; the final snapshot is diffed against the first. */
  async stop(durationSeconds: number): Promise<ServiceSide> {
    if (this.timer) clearInterval(this.timer);
    await this.polling;
    const [after, consumers] = await Promise.all([snapshotAll(this.services, this.fetcher), consumerProblems(this.health.urls, this.health.fetcher)]);
    this.noteChanges(after);
    return { ...diffSnapshots(this.before, after, durationSeconds, this.changes), consumers };
  }
}

export function diffSnapshots(
  before: Record<string, ServiceSnapshot>,
  after: Record<string, ServiceSnapshot>,
  durationSeconds: number,
  changes: BreakerChange[] = [],
): ServiceSide {
  const side: ServiceSide = { services: {}, breakers: { states: {}, changes: [...changes], events: {} }, consumers: [] };
  for (const [service, end] of Object.entries(after)) {
    const start = before[service] ?? UNREACHABLE;
    const reachable = start.reachable && end.reachable;
    const requests = reachable ? Math.max(0, end.requests - start.requests) : 0;
    side.services[service] = {
      requests,
      requestsPerSecond: durationSeconds > 0 ? Math.round((requests / durationSeconds) * 10) / 10 : 0,
      kafkaProduced: reachable ? Math.max(0, end.kafkaProduced - start.kafkaProduced) : 0,
      deadLetters: reachable ? Math.max(0, end.deadLetters - start.deadLetters) : 0,
      reachable,
    };
    for (const breaker of new Set([...Object.keys(start.breakers), ...Object.keys(end.breakers)])) {
      const key = `${service}/${breaker}`;
      side.breakers.states[key] = { before: start.breakers[breaker] ?? 'unknown', after: end.breakers[breaker] ?? 'unknown' };
      const e0 = start.breakerEvents[breaker] ?? { open: 0, halfOpen: 0, close: 0 };
      const e1 = end.breakerEvents[breaker] ?? { open: 0, halfOpen: 0, close: 0 };
      const delta = { open: e1.open - e0.open, halfOpen: e1.halfOpen - e0.halfOpen, close: e1.close - e0.close };
      if (delta.open || delta.halfOpen || delta.close) side.breakers.events[key] = delta;
    }
  }
  return side;
}
