/**
 * Collects every answer of a run: HDR histograms (overall, per group, per second), status
 * codes, errors by code, events accepted. Latencies are recorded in microseconds.
 */
import * as hdr from 'hdr-histogram-js';
import type { GroupResult, LatencySummary, SecondSample } from './types';

type Histogram = ReturnType<typeof hdr.build>;

const newHistogram = (): Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3, bitBucketSize: 32 });

/** Upper bounds (ms) of the latency histogram in the report: log-spaced, 0.1 ms … 60 s. */
export const HISTOGRAM_BOUNDS: number[] = (() => {
  const bounds: number[] = [];
  for (let exp = -1; exp <= 4; exp++) for (const m of [1, 1.5, 2, 3, 5, 7]) bounds.push(Number((m * 10 ** exp).toPrecision(3)));
  bounds.push(60_000);
  return bounds;
})();

interface GroupState {
  histogram: Histogram;
  requests: number;
  ok: number;
  events: number;
  statusCodes: Map<string, number>;
}

interface Second {
  histogram: Histogram;
  requests: number;
  ok: number;
  errors: number;
  events: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  if (histogram.totalCount === 0) return { p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0, count: 0 };
  // A percentile is reported as its bucket's highest equivalent value: never above the real max.
  const ms = (us: number) => Math.round(Math.min(us, histogram.maxValue)) / 1000;
  return {
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
    count: histogram.totalCount,
  };
}

export class Recorder {
  private readonly overall = newHistogram();
  private readonly groups = new Map<string, GroupState>();
  private readonly seconds: Second[] = [];
  private readonly buckets = new Array<number>(HISTOGRAM_BOUNDS.length).fill(0);
  readonly errorsByCode = new Map<string, number>();
  readonly statusCodes = new Map<string, number>();
  requests = 0;
  ok = 0;
  errors = 0;
  events = 0;
  late = 0;
  /** performance.now() of the last answer (or error) recorded. */
  lastAt = 0;

  constructor(private readonly startedAt: number = performance.now()) {}

  private group(name: string): GroupState {
    let state = this.groups.get(name);
    if (!state) {
      state = { histogram: newHistogram(), requests: 0, ok: 0, events: 0, statusCodes: new Map() };
      this.groups.set(name, state);
    }
    return state;
  }

  private second(at: number): Second {
    const index = Math.max(0, Math.floor((at - this.startedAt) / 1000));
    while (this.seconds.length <= index) this.seconds.push({ histogram: newHistogram(), requests: 0, ok: 0, errors: 0, events: 0 });
    return this.seconds[index]!;
  }

  /** An answer: status 0 with `errorCode` when there was none (refused, reset, timed out). */
  record(group: string, status: number, latencyMs: number, accepted: number, errorCode?: string, at: number = performance.now()): void {
    const us = Math.max(1, Math.round(latencyMs * 1000));
    const state = this.group(group);
    const second = this.second(at);
    this.lastAt = Math.max(this.lastAt, at);
    this.requests++;
    state.requests++;
    second.requests++;
    if (status === 0) {
      this.errors++;
      second.errors++;
      const code = errorCode ?? 'ERROR';
      this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
      const key = `error:${code}`;
      state.statusCodes.set(key, (state.statusCodes.get(key) ?? 0) + 1);
      return;
    }
    const code = String(status);
    this.statusCodes.set(code, (this.statusCodes.get(code) ?? 0) + 1);
    state.statusCodes.set(code, (state.statusCodes.get(code) ?? 0) + 1);
    if (status >= 200 && status < 300) {
      this.ok++;
      state.ok++;
      second.ok++;
    }
    this.events += accepted;
    state.events += accepted;
    second.events += accepted;
    this.overall.recordValue(us);
    state.histogram.recordValue(us);
    second.histogram.recordValue(us);
    const bucket = HISTOGRAM_BOUNDS.findIndex((bound) => latencyMs <= bound);
    this.buckets[bucket === -1 ? this.buckets.length - 1 : bucket]! += 1;
  }

  latency(): LatencySummary {
    return summarize(this.overall);
  }

  groupResults(durationSeconds: number): Record<string, GroupResult> {
    const out: Record<string, GroupResult> = {};
    const per = (n: number) => Math.round((n / durationSeconds) * 10) / 10;
    for (const [name, state] of [...this.groups].sort(([a], [b]) => a.localeCompare(b))) {
      out[name] = {
        requests: state.requests,
        ok: state.ok,
        requestsPerSecond: per(state.requests),
        okPerSecond: per(state.ok),
        eventsAccepted: state.events,
        eventsPerSecond: per(state.events),
        latency: summarize(state.histogram),
        statusCodes: Object.fromEntries(state.statusCodes),
      };
    }
    return out;
  }

  timeline(): SecondSample[] {
    return this.seconds.map((s, second) => {
      const l = summarize(s.histogram);
      return { second, requests: s.requests, ok: s.ok, errors: s.errors, events: s.events, p50: l.p50, p99: l.p99, max: l.max };
    });
  }

  histogram(): Array<{ le: number; count: number }> {
    return HISTOGRAM_BOUNDS.map((le, i) => ({ le, count: this.buckets[i]! }));
  }

  /** The last full second, for the live line. */
  lastSecond(now: number = performance.now()): SecondSample | undefined {
    const index = Math.floor((now - this.startedAt) / 1000) - 1;
    const s = this.seconds[index];
    if (!s) return undefined;
    const l = summarize(s.histogram);
    return { second: index, requests: s.requests, ok: s.ok, errors: s.errors, events: s.events, p50: l.p50, p99: l.p99, max: l.max };
  }
}
