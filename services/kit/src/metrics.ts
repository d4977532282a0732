import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One Prometheus registry per service instance, with the metrics the dashboard and load tests read. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  readonly breakerState: Gauge<'breaker'>;
  readonly breakerEvents: Counter<'breaker' | 'event'>;
  readonly kafkaProduced: Counter<'topic'>;
  readonly kafkaConsumed: Counter<'topic' | 'group'>;
  readonly kafkaDeadLetters: Counter<'topic' | 'group' | 'class'>;
  /** Breaker outcomes not yet added to breakerEvents, by breaker, then event. */
  private readonly breakerTallies = new Map<string, Map<string, number>>();

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration by route',
      labelNames: ['method', 'route', 'status_code'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.breakerState = new Gauge({
      name: 'circuit_breaker_state',
      help: 'Circuit breaker state: 0 closed, 1 half-open, 2 open',
      labelNames: ['breaker'],
      registers: [this.registry],
    });
    this.breakerEvents = new Counter({
      name: 'circuit_breaker_events_total',
      help: 'Circuit breaker calls by outcome (success, failure, timeout, reject, open, half_open, close)',
      labelNames: ['breaker', 'event'],
      registers: [this.registry],
      collect: () => this.flushBreakerTallies(),
    });
    this.kafkaProduced = new Counter({
      name: 'kafka_messages_produced_total',
      help: 'Messages acknowledged by Kafka',
      labelNames: ['topic'],
      registers: [this.registry],
    });
    this.kafkaConsumed = new Counter({
      name: 'kafka_messages_consumed_total',
      help: 'Messages consumed and processed',
      labelNames: ['topic', 'group'],
      registers: [this.registry],
    });
    this.kafkaDeadLetters = new Counter({
      name: 'kafka_dead_letters_total',
      help: 'Records a consumer could not apply, set aside to the dead-letter topic of their source topic',
      labelNames: ['topic', 'group', 'class'],
      registers: [this.registry],
    });
  }

  /**
   * One breaker outcome. Every remote call has one, so it is a plain addition here and reaches
   * the counter (label lookup and all) when the counter is read.
   */
  countBreakerEvent(breaker: string, event: string): void {
    let tallies = this.breakerTallies.get(breaker);
    if (!tallies) this.breakerTallies.set(breaker, (tallies = new Map()));
    tallies.set(event, (tallies.get(event) ?? 0) + 1);
  }

  private flushBreakerTallies(): void {
    for (const [breaker, tallies] of this.breakerTallies) {
      for (const [event, count] of tallies) if (count > 0) this.breakerEvents.inc({ breaker, event }, count);
      tallies.clear();
    }
  }

  /**
   * Prometheus text: every metric, or only the families named (unknown names are left out), so
   * that a poller reading three families (msctl's dashboard, every second) does not have every
   * runtime and GC series collected and written for it.
   */
  async render(names?: readonly string[]): Promise<string> {
    if (!names) return this.registry.metrics();
    const known = [...new Set(names)].filter((name) => this.registry.getSingleMetric(name) !== undefined);
    const texts = await Promise.all(known.map((name) => this.registry.getSingleMetricAsString(name)));
    return texts.map((text) => `${text}\n`).join('');
  }
}
