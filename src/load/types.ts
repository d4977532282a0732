/**
 * The data of a load test: what is sent (a plan of weighted request templates), how it is
 * driven (closed or open model) and what comes back (the result `--json` prints).
 */

/** One kind of request in a scenario. Strings may hold {{placeholders}} (see template.ts). */
export interface RequestTemplate {
  name: string;
  /** What the request counts towards in the result and the SLOs: users, ingest, notifications, analytics, … */
  group: string;
  /** Relative share of the mix (whole numbers; a smooth weighted round robin keeps the shares exact). */
  weight: number;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** A user the load test signed up and logged in before the clock started. */
export interface Identity {
  userId: string;
  token: string;
}

/** Everything a request generator needs; plain JSON so it can be handed to autocannon's worker threads. */
export interface Plan {
  scenario: string;
  /** Unique per run: in usernames and event types, so runs never mix. */
  runId: string;
  templates: RequestTemplate[];
  identities: Identity[];
  /**
   * Epoch ms when the measured phase ends (closed model). Afterwards the generator sends only
   * cheap drain requests (not recorded) while the last real ones are answered, so every
   * request sent is also counted — which the ingest check needs to be exact.
   */
  measureUntil?: number;
}

export type LoadModel = 'closed' | 'open';

export interface LatencySummary {
  /** Milliseconds, from an HDR histogram (3 significant digits). */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

export interface GroupResult {
  requests: number;
  /** 2xx answers. */
  ok: number;
  requestsPerSecond: number;
  /** 2xx answers per second: what the SLOs' rps means. */
  okPerSecond: number;
  /** Events accepted (sum of `accepted` in 202 answers) and per second. */
  eventsAccepted: number;
  eventsPerSecond: number;
  latency: LatencySummary;
  statusCodes: Record<string, number>;
}

export interface SecondSample {
  /** Seconds since the measured phase began. */
  second: number;
  requests: number;
  ok: number;
  errors: number;
  events: number;
  p50: number;
  p99: number;
  max: number;
}

export interface BreakerChange {
  /** ISO time the change was seen (polled once a second), or null when only counted from the event counters. */
  at: string | null;
  service: string;
  breaker: string;
  from: string;
  to: string;
}

export interface ServiceSide {
  /** Per service: requests it served during the run (from http_request_duration_seconds_count, /health and /metrics excluded). */
  services: Record<string, { requests: number; requestsPerSecond: number; kafkaProduced: number; reachable: boolean; deadLetters: number }>;
  /** Consumer groups that did not pass their /health check when the run ended: stalled or stopped, and why. */
  consumers: Array<{ service: string; group: string; status: string; output: string }>;
  breakers: {
    /** Every breaker's state before and after. */
    states: Record<string, { before: string; after: string }>;
    /** State changes seen while polling /metrics once a second. */
    changes: BreakerChange[];
    /** open / half_open / close events counted by circuit_breaker_events_total during the run. */
    events: Record<string, { open: number; halfOpen: number; close: number }>;
  };
}

export interface SloCheck {
  group: string;
  metric: 'rps' | 'eventsPerSecond' | 'p50Ms' | 'p90Ms' | 'p99Ms' | 'p999Ms' | 'maxErrorRate';
  /** `min` for throughput, `max` for latency and errors. */
  kind: 'min' | 'max';
  threshold: number;
  actual: number | null;
  ok: boolean;
}

export interface SloVerdict {
  source: string;
  ok: boolean;
  checks: SloCheck[];
  violations: string[];
}

export interface IngestCheck {
  ran: boolean;
  /** Why it did not run (no ingest requests, custom scenario). */
  reason?: string;
  types: string[];
  accepted: number;
  counted: number | null;
  ok: boolean;
  waitedMs: number;
}

export interface LoadResult {
  scenario: string;
  runId: string;
  target: string;
  model: LoadModel;
  /** In words: which model ran and how latency is measured. */
  modelDescription: string;
  generator: string;
  startedAt: string;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  workers: number | null;
  /** Open model: the fixed arrival rate asked for. */
  rate: number | null;
  users: number;
  rateLimit: { perSecondPerClient: number | null; clients: number; raised: boolean; source: string };
  totals: {
    requests: number;
    ok: number;
    requestsPerSecond: number;
    okPerSecond: number;
    eventsAccepted: number;
    eventsPerSecond: number;
    non2xx: number;
    errors: number;
    errorsByCode: Record<string, number>;
    statusCodes: Record<string, number>;
    /** Open model: requests whose start came later than scheduled because every connection was busy (their wait is in the latency). */
    late: number | null;
    /** Requests sent whose answer never arrived before the run ended (not in the figures). */
    unanswered: number;
  };
  latency: LatencySummary;
  groups: Record<string, GroupResult>;
  timeline: SecondSample[];
  /** Latency histogram: log-spaced buckets in ms (upper bound) with counts. */
  histogram: Array<{ le: number; count: number }>;
  server: ServiceSide;
  slo: SloVerdict;
  ingestCheck: IngestCheck;
  machine: { cpus: number; node: string };
}
