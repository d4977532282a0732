/**
 * The dashboard's core: polls the stack status and every running service's /health and
 * /metrics (in parallel, each with a short timeout) once per interval, and Kafka's offsets
 * every kafkaInterval, and turns them into immutable DashboardSnapshots. Renderers subscribe;
 * nothing else polls. The outside world (status, fetch, Kafka, clock) is injected.
 */
import type { KafkaOffsetsReading } from '../infra/kafka/client';
import type { FetchLike } from '../core/http';
import { sleep } from '../core/sleep';
import type { HealthDocument, StackStatus } from '../runtime/types';
import {
  breakerRows,
  changesBetween,
  consumerRows,
  type ConsumerRow,
  displayState,
  kafkaView,
  METRICS_PATH,
  readMetrics,
  trafficBetween,
  type DashboardSnapshot,
  type KafkaReadingAt,
  type KafkaView,
  type MetricsReading,
  type ServiceRow,
  slowestPerService,
} from './snapshot';

export type { FetchLike };

export interface PollerOptions {
  status: () => Promise<StackStatus>;
  fetch?: FetchLike;
  /** Kafka offsets; absent: the Kafka panel stays empty. */
  kafka?: { read(): Promise<KafkaOffsetsReading> };
  now?: () => number;
  /** Service health/metrics period (default 1000 ms). */
  intervalMs?: number;
  /** Kafka offsets period (default 2000 ms). */
  kafkaIntervalMs?: number;
  /** Per request (default 800 ms, never more than the interval). */
  fetchTimeoutMs?: number;
  /** Health path per service (default /health). */
  healthPaths?: Record<string, string>;
  /** Recent changes kept (default 50). */
  keepChanges?: number;
  /** Recent traces (msctl's trace store); absent: no slowest-trace line. */
  traces?: () => Promise<Array<{ traceId: string; root: string; durationMs: number; services: string[] }>>;
  /** Traces period (default 5000 ms). */
  tracesIntervalMs?: number;
}

type Listener = (snapshot: DashboardSnapshot) => void;

const deepFreeze = <T>(value: T): T => {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
};

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Plain data (snapshot parts) compared by value. */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null || Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  if (keysA.length !== Object.keys(b).length) return false;
  return keysA.every((key) => Object.hasOwn(b, key) && sameData((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/**
 * The previous value when the next one holds the same data: an unchanged panel keeps its
 * object, so the view can skip it by identity and the snapshot is not frozen again.
 */
const keep = <T>(previous: T, next: T): T => (sameData(previous, next) ? previous : next);

/** What the view shows of the Kafka panel (the time of the reading is not shown). */
const kafkaShown = ({ at, ...shown }: KafkaView) => ({ ...shown, read: at !== null });

export class DashboardPoller {
  private snapshot: DashboardSnapshot;
  private readonly listeners = new Set<Listener>();
  private readonly metrics = new Map<string, MetricsReading>();
  private readonly fetch: FetchLike;
  private readonly now: () => number;
  readonly intervalMs: number;
  private readonly kafkaIntervalMs: number;
  private readonly fetchTimeoutMs: number;
  private lastKafkaAt = Number.NEGATIVE_INFINITY;
  private kafkaReading: KafkaReadingAt | undefined;
  private kafkaInFlight: Promise<void> | undefined;
  private polledOnce = false;
  private loop: { stop: () => void } | undefined;

  constructor(private readonly options: PollerOptions) {
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.now = options.now ?? Date.now;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.kafkaIntervalMs = options.kafkaIntervalMs ?? 2_000;
    this.fetchTimeoutMs = Math.min(options.fetchTimeoutMs ?? 800, this.intervalMs);
    this.snapshot = deepFreeze({
      at: new Date(this.now()).toISOString(),
      project: '',
      supervisor: 'none',
      error: null,
      services: [],
      breakers: [],
      consumers: [],
      kafka: { at: null, error: null, topics: [], groups: [] },
      changes: [],
      slowestTraces: [],
    });
  }

  getSnapshot = (): DashboardSnapshot => this.snapshot;

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Adds a line to the recent changes (e.g. restart progress) and publishes. */
  note(text: string): void {
    this.publish({ ...this.snapshot, changes: this.withChanges(this.snapshot.changes, [text]) });
  }

  /**
   * One poll: the status and every running service's /health and /metrics, then a snapshot;
   * Kafka too when it is due. `waitForKafka` false returns without waiting for Kafka (its
   * snapshot follows when the offsets arrive), so a slow broker never stalls the services.
   */
  async tick(options: { waitForKafka?: boolean } = {}): Promise<DashboardSnapshot> {
    const at = this.now();
    let kafka: Promise<void> | undefined;
    if (this.options.kafka && !this.kafkaInFlight && at - this.lastKafkaAt >= this.kafkaIntervalMs) {
      this.lastKafkaAt = at;
      kafka = this.kafkaInFlight = this.pollKafka(at).finally(() => {
        this.kafkaInFlight = undefined;
      });
    }
    if (this.options.traces && at - this.lastTracesAt >= (this.options.tracesIntervalMs ?? 5_000)) {
      this.lastTracesAt = at;
      void this.options
        .traces()
        .then((traces) => {
          const slowestTraces = keep(this.snapshot.slowestTraces, slowestPerService(traces));
          if (slowestTraces !== this.snapshot.slowestTraces) this.publish({ ...this.snapshot, slowestTraces });
        })
        .catch(() => undefined);
    }
    await this.pollServices(at);
    if (options.waitForKafka !== false) await (kafka ?? this.kafkaInFlight);
    return this.snapshot;
  }

  private lastTracesAt = Number.NEGATIVE_INFINITY;

  /** Polls every interval until stop() (or the signal aborts). */
  start(signal?: AbortSignal): void {
    if (this.loop) return;
    const stopped = new AbortController();
    const run = async () => {
      while (!stopped.signal.aborted) {
        const started = this.now();
        await this.tick({ waitForKafka: false }).catch(() => undefined);
        if (await sleep(Math.max(50, this.intervalMs - (this.now() - started)), stopped.signal)) break;
      }
    };
    const stop = () => stopped.abort();
    this.loop = { stop };
    signal?.addEventListener('abort', stop, { once: true });
    void run();
  }

  stop(): void {
    this.loop?.stop();
    this.loop = undefined;
  }

  private async get(url: string): Promise<string | undefined> {
    try {
      const response = await this.fetch(url, { signal: AbortSignal.timeout(this.fetchTimeoutMs) });
      // /health answers 503 with its body when failing: the body is what matters.
      return await response.text();
    } catch {
      return undefined;
    }
  }

  private async pollServices(at: number): Promise<void> {
    let status: StackStatus;
    try {
      status = await this.options.status();
    } catch (error) {
      this.publish({ ...this.snapshot, at: new Date(at).toISOString(), error: errorText(error) });
      return;
    }
    const polled = await Promise.all(
      status.targets.map(async (target) => {
        const alive = target.kind === 'service' && target.port !== null && target.pid !== null && !['stopped', 'failed'].includes(target.state);
        if (!alive) return { target, health: undefined, metrics: undefined };
        const base = `http://127.0.0.1:${target.port}`;
        const [healthText, metricsText] = await Promise.all([this.get(`${base}${this.options.healthPaths?.[target.name] ?? '/health'}`), this.get(`${base}${METRICS_PATH}`)]);
        let health: HealthDocument | undefined;
        try {
          health = healthText === undefined ? undefined : (JSON.parse(healthText) as HealthDocument);
        } catch {
          health = undefined;
        }
        return { target, health, metrics: metricsText === undefined ? undefined : readMetrics(metricsText, at) };
      }),
    );
    const services: ServiceRow[] = [];
    const breakers = [];
    const consumers: ConsumerRow[] = [];
    for (const { target, health, metrics } of polled) {
      const previous = this.metrics.get(target.name);
      if (metrics) this.metrics.set(target.name, metrics);
      else this.metrics.delete(target.name);
      const traffic = metrics ? trafficBetween(previous, metrics) : { requestsPerSecond: null, p99Ms: null };
      const liveHealth = typeof health?.status === 'string' ? health.status : undefined;
      services.push({
        name: target.name,
        kind: target.kind,
        runtime: status.runtime,
        state: displayState(target, liveHealth),
        supervisorState: target.state,
        health: (liveHealth as ServiceRow['health'] | undefined) ?? target.health,
        pid: target.pid,
        port: target.port,
        uptimeSeconds: ['stopped', 'failed'].includes(target.state) ? null : target.uptimeSeconds,
        restarts: target.restarts,
        requestsPerSecond: traffic.requestsPerSecond,
        p99Ms: traffic.p99Ms,
        memoryBytes: metrics?.memoryBytes ?? null,
        groups: metrics?.groups ?? previous?.groups ?? [],
        detail: target.detail,
      });
      if (target.kind === 'service') {
        breakers.push(...breakerRows(target.name, health, target.circuits));
        consumers.push(...consumerRows(target.name, health));
      }
    }
    const next = { services, breakers, consumers };
    const changes = this.polledOnce ? changesBetween(this.snapshot, next) : [];
    this.polledOnce = true;
    const previous = this.snapshot;
    this.publish({
      ...previous,
      at: new Date(at).toISOString(),
      project: status.project,
      supervisor: status.supervisor.state,
      error: null,
      services: keep(previous.services, services),
      breakers: keep(previous.breakers, breakers),
      consumers: keep(previous.consumers, consumers),
      changes: this.withChanges(previous.changes, changes, at),
    });
  }

  private async pollKafka(at: number): Promise<void> {
    let view: KafkaView;
    try {
      const reading = await this.options.kafka!.read();
      const current = { at, reading };
      view = kafkaView(this.kafkaReading, current);
      this.kafkaReading = current;
    } catch (error) {
      view = { ...this.snapshot.kafka, error: errorText(error) };
      this.kafkaReading = undefined;
    }
    const previous = this.snapshot.kafka;
    const kafka: KafkaView = { at: view.at, error: view.error, topics: keep(previous.topics, view.topics), groups: keep(previous.groups, view.groups) };
    // A reading that changes nothing on screen waits for the next poll of the services to be drawn.
    this.publish({ ...this.snapshot, kafka }, !sameData(kafkaShown(previous), kafkaShown(kafka)));
  }

  private withChanges(existing: DashboardSnapshot['changes'], lines: string[], at = this.now()): DashboardSnapshot['changes'] {
    if (lines.length === 0) return existing;
    const stamp = new Date(at).toISOString();
    return [...existing, ...lines.map((text) => ({ at: stamp, text }))].slice(-(this.options.keepChanges ?? 50));
  }

  /** `notify` false: the snapshot is current for getSnapshot() and tick(), but subscribers are not woken. */
  private publish(snapshot: DashboardSnapshot, notify = true): void {
    this.snapshot = deepFreeze(snapshot);
    if (notify) for (const listener of this.listeners) listener(this.snapshot);
  }
}
