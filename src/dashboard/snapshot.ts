/**
 * What the dashboard shows, as immutable data, and the pure functions that compute it from
 * what the poller read (stack status, /health, /metrics, Kafka offsets). Components only
 * render a DashboardSnapshot; nothing here touches the network or the clock.
 */
import type { KafkaOffsetsReading } from '../infra/kafka/client';
import { consumerGroupOf } from '../runtime/health';
import type { HealthDocument, StackStatus, TargetStatus } from '../runtime/types';
import { parsePrometheus, type Sample } from '../core/prometheus';
import { histogramDelta, histogramOf, histogramQuantile, ratePerSecond, sumOf, type Histogram } from './prometheus';
import { compareNames } from '../../services/kit/src/order';

export type DisplayState = 'starting' | 'healthy' | 'degraded' | 'unhealthy' | 'restarting' | 'stopping' | 'stopped' | 'failed';
export type BreakerState = 'closed' | 'open' | 'half-open';

export interface ServiceRow {
  name: string;
  kind: 'service' | 'infrastructure';
  runtime: StackStatus['runtime'];
  state: DisplayState;
  /** The supervisor's own word (waiting, healthy, failed…). */
  supervisorState: string;
  health: 'pass' | 'warn' | 'fail' | 'unknown';
  pid: number | null;
  port: number | null;
  uptimeSeconds: number | null;
  restarts: number;
  /** Requests per second over the last interval (the dashboard's own /health and /metrics calls excluded). */
  requestsPerSecond: number | null;
  /** p99 latency over the last interval, in milliseconds (null: no request in the interval). */
  p99Ms: number | null;
  memoryBytes: number | null;
  /** Consumer groups this service reports in its metrics. */
  groups: string[];
  detail: string | null;
}

export interface BreakerRow {
  service: string;
  name: string;
  state: BreakerState;
  /** Counts over the breaker's rolling window (null when only the supervisor's word is known). */
  failures: number | null;
  rejects: number | null;
  /** Open: milliseconds until it lets one trial call through. */
  retryInMs: number | null;
}

export interface TopicRow {
  topic: string;
  partitions: number;
  endOffset: number;
  /** Messages per second in (end-offset growth); null until two readings. */
  messagesPerSecond: number | null;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  offset: number;
  endOffset: number;
  lag: number;
}

export interface GroupRow {
  group: string;
  lag: number;
  partitions: PartitionLag[];
}

/** A consumer group as the service running it reports it in /health (`kafka:consumer:<group>`). */
export interface ConsumerRow {
  service: string;
  group: string;
  status: 'pass' | 'warn' | 'fail';
  /** Its own count of records waiting (null when it did not say). */
  lag: number | null;
  /** Why it does not pass: "stalled on events.processed[0] at offset 28350 for 42 s: …", "stopped: …". */
  output: string | null;
  deadLetters5m: number;
}

export interface KafkaView {
  /** When the offsets were read (ISO); null before the first reading. */
  at: string | null;
  error: string | null;
  topics: TopicRow[];
  groups: GroupRow[];
}

export interface Change {
  at: string;
  text: string;
}

export interface DashboardSnapshot {
  at: string;
  project: string;
  supervisor: StackStatus['supervisor']['state'];
  /** The last poll of the stack status failed: why (the rows are the last known ones). */
  error: string | null;
  services: ServiceRow[];
  breakers: BreakerRow[];
  kafka: KafkaView;
  /** Every consumer group's own report, per service instance. */
  consumers: ConsumerRow[];
  /** Recent state changes, oldest first. */
  changes: Change[];
  /** Per service, the slowest trace it took part in over the last minutes (empty without traces). */
  slowestTraces: SlowTrace[];
}

export interface SlowTrace {
  service: string;
  traceId: string;
  operation: string;
  durationMs: number;
}

/** For every service, the slowest of the traces it appears in; ordered by service name. */
export function slowestPerService(traces: ReadonlyArray<{ traceId: string; root: string; durationMs: number; services: string[] }>): SlowTrace[] {
  const slowest = new Map<string, SlowTrace>();
  for (const trace of traces) {
    for (const service of trace.services) {
      const current = slowest.get(service);
      if (!current || trace.durationMs > current.durationMs) slowest.set(service, { service, traceId: trace.traceId, operation: trace.root, durationMs: trace.durationMs });
    }
  }
  return [...slowest.values()].sort((a, b) => compareNames(a.service, b.service));
}

// ---------------------------------------------------------------- /health and /metrics

/** One scrape of a service's /metrics, reduced to what the dashboard needs. */
export interface MetricsReading {
  at: number;
  requests: number | undefined;
  latency: Histogram | undefined;
  memoryBytes: number | undefined;
  groups: string[];
}

/** The dashboard's own polling is not traffic. */
const isTraffic = (labels: Readonly<Record<string, string>>) => labels.route !== '/health' && labels.route !== '/metrics';

/** The metric families readMetrics uses; a service's /metrics holds many more (runtime, GC, pools). */
const READ_FAMILIES = ['http_request_duration_seconds', 'process_resident_memory_bytes', 'kafka_messages_consumed_total'];

/**
 * The scrape's path: the kit's services answer only the families named, so a poll each second
 * does not have every runtime and GC series collected; a service that ignores the query answers
 * them all, and readMetrics keeps what it reads.
 */
export const METRICS_PATH = `/metrics?${READ_FAMILIES.map((family) => `name=${family}`).join('&')}`;

/** Only the lines of the families read, so the cost of a scrape does not grow with every series a service exports. */
function linesRead(text: string): string {
  const kept: string[] = [];
  for (const family of READ_FAMILIES) {
    for (let start = text.indexOf(family); start !== -1; start = text.indexOf(family, start + 1)) {
      if (start > 0 && text.charCodeAt(start - 1) !== 0x0a) continue; // inside a comment or a label
      const end = text.indexOf('\n', start);
      kept.push(text.slice(start, end === -1 ? undefined : end));
      if (end === -1) break;
      start = end;
    }
  }
  return kept.join('\n');
}

export function readMetrics(text: string, at: number): MetricsReading {
  const samples: Sample[] = parsePrometheus(linesRead(text));
  const groups = new Set<string>();
  for (const sample of samples) if (sample.name === 'kafka_messages_consumed_total' && sample.labels.group) groups.add(sample.labels.group);
  return {
    at,
    requests: sumOf(samples, 'http_request_duration_seconds_count', isTraffic),
    latency: histogramOf(samples, 'http_request_duration_seconds', isTraffic),
    memoryBytes: sumOf(samples, 'process_resident_memory_bytes'),
    groups: [...groups].sort(),
  };
}

/** Requests/s and p99 (ms) between two scrapes; nulls when they cannot be told (first scrape, restart, no traffic). */
export function trafficBetween(previous: MetricsReading | undefined, current: MetricsReading): { requestsPerSecond: number | null; p99Ms: number | null } {
  if (!previous) return { requestsPerSecond: null, p99Ms: null };
  const seconds = (current.at - previous.at) / 1000;
  const rate = ratePerSecond(previous.requests ?? 0, current.requests ?? 0, seconds);
  let p99: number | undefined;
  if (current.latency) {
    const delta = histogramDelta(previous.latency ?? { buckets: [], count: 0 }, current.latency);
    if (delta) p99 = histogramQuantile(0.99, delta);
  }
  return { requestsPerSecond: rate ?? null, p99Ms: p99 === undefined ? null : p99 * 1000 };
}

export function displayState(target: Pick<TargetStatus, 'state' | 'health'>, liveHealth?: string): DisplayState {
  switch (target.state) {
    case 'healthy': {
      const health = liveHealth ?? target.health;
      if (health === 'warn') return 'degraded';
      if (health === 'fail') return 'unhealthy';
      return 'healthy';
    }
    case 'running':
      return 'healthy';
    case 'unhealthy':
      return liveHealth === 'warn' ? 'degraded' : 'unhealthy';
    case 'starting':
    case 'waiting':
    case 'building':
    case 'planned':
      return 'starting';
    case 'restarting':
    case 'stopping':
    case 'stopped':
    case 'failed':
      return target.state;
    default:
      return 'starting';
  }
}

const asBreakerState = (state: string): BreakerState => (state === 'open' || state === 'half-open' ? state : 'closed');

export function breakerRows(service: string, health: HealthDocument | undefined, fallback: Record<string, string>): BreakerRow[] {
  if (health?.circuits) {
    return health.circuits.map((circuit) => ({
      service,
      name: circuit.name,
      state: asBreakerState(circuit.state),
      failures: circuit.stats?.failures ?? null,
      rejects: circuit.stats?.rejects ?? null,
      retryInMs: circuit.state === 'open' && typeof circuit.retryInMs === 'number' ? circuit.retryInMs : null,
    }));
  }
  return Object.entries(fallback).map(([name, state]) => ({ service, name, state: asBreakerState(state), failures: null, rejects: null, retryInMs: null }));
}

export function consumerRows(service: string, health: HealthDocument | undefined): ConsumerRow[] {
  const rows: ConsumerRow[] = [];
  for (const [check, results] of Object.entries(health?.checks ?? {})) {
    const group = consumerGroupOf(check);
    const result = results[0];
    if (group === undefined || !result) continue;
    const status = result.status === 'warn' || result.status === 'fail' ? result.status : 'pass';
    rows.push({
      service,
      group,
      status,
      lag: typeof result.observedValue === 'number' ? result.observedValue : null,
      output: typeof result.output === 'string' && status !== 'pass' ? result.output : null,
      deadLetters5m: typeof result.deadLetters5m === 'number' ? result.deadLetters5m : 0,
    });
  }
  return rows;
}

// ---------------------------------------------------------------- Kafka

export interface KafkaReadingAt {
  at: number;
  reading: KafkaOffsetsReading;
}

export function kafkaView(previous: KafkaReadingAt | undefined, current: KafkaReadingAt): KafkaView {
  const seconds = previous ? (current.at - previous.at) / 1000 : 0;
  const ends = new Map<string, number>();
  const topics = [...current.reading.topics].sort((a, b) => compareNames(a.topic, b.topic)).map((topic): TopicRow => {
    for (const p of topic.partitions) ends.set(`${topic.topic}\u0000${p.partition}`, p.high);
    const endOffset = topic.partitions.reduce((sum, p) => sum + p.high, 0);
    const before = previous?.reading.topics.find((t) => t.topic === topic.topic);
    const rate = before ? ratePerSecond(before.partitions.reduce((sum, p) => sum + p.high, 0), endOffset, seconds) : undefined;
    return { topic: topic.topic, partitions: topic.partitions.length, endOffset, messagesPerSecond: rate ?? null };
  });
  const groups = current.reading.groups
    .map((group): GroupRow => {
      const partitions = group.offsets
        .filter((o) => o.offset >= 0 && ends.has(`${o.topic}\u0000${o.partition}`))
        .map((o) => {
          const endOffset = ends.get(`${o.topic}\u0000${o.partition}`)!;
          return { topic: o.topic, partition: o.partition, offset: o.offset, endOffset, lag: Math.max(0, endOffset - o.offset) };
        })
        .sort((a, b) => compareNames(a.topic, b.topic) || a.partition - b.partition);
      return { group: group.groupId, lag: partitions.reduce((sum, p) => sum + p.lag, 0), partitions };
    })
    .filter((group) => group.partitions.length > 0)
    .sort((a, b) => compareNames(a.group, b.group));
  return { at: new Date(current.at).toISOString(), error: null, topics, groups };
}

// ---------------------------------------------------------------- changes

const breakerKey = (b: BreakerRow) => `${b.service}\u0000${b.name}`;
const consumerKey = (c: ConsumerRow) => `${c.service}\u0000${c.group}`;

type Changeable = Pick<DashboardSnapshot, 'services' | 'breakers'> & { consumers?: readonly ConsumerRow[] };

/** What changed between two snapshots, as lines for the recent-changes list. */
export function changesBetween(previous: Changeable | undefined, current: Changeable): string[] {
  if (!previous) return [];
  const lines: string[] = [];
  const before = new Map(previous.services.map((s) => [s.name, s.state]));
  for (const service of current.services) {
    const was = before.get(service.name);
    if (was !== undefined && was !== service.state) lines.push(`${service.name} ${service.state}`);
  }
  const breakers = new Map(previous.breakers.map((b) => [breakerKey(b), b.state]));
  for (const breaker of current.breakers) {
    const was = breakers.get(breakerKey(breaker));
    // A breaker seen for the first time matters only when it is not closed.
    if (was === undefined ? breaker.state !== 'closed' : was !== breaker.state) lines.push(`${breaker.service} circuit ${breaker.name} ${breaker.state.toUpperCase()}`);
  }
  const consumers = new Map((previous.consumers ?? []).map((c) => [consumerKey(c), c]));
  for (const consumer of current.consumers ?? []) {
    const was = consumers.get(consumerKey(consumer));
    if (consumer.status !== 'pass' && consumer.status !== was?.status) lines.push(`${consumer.service} consumer ${consumer.output ?? consumer.status}`);
    else if (consumer.status === 'pass' && was !== undefined && was.status !== 'pass') lines.push(`${consumer.service} consumer ${consumer.group} moving again`);
    const more = consumer.deadLetters5m - (was?.deadLetters5m ?? 0);
    if (was !== undefined && more > 0) lines.push(`${consumer.service} dead-lettered ${more} record${more === 1 ? '' : 's'} (${consumer.group}): msctl topics dlq`);
  }
  return lines;
}
