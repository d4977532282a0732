import { describe, expect, it } from 'vitest';
import { parsePrometheus } from '../../src/core/prometheus';
import { histogramDelta, histogramOf, histogramQuantile, ratePerSecond, sumOf } from '../../src/dashboard/prometheus';
import { readMetrics, trafficBetween } from '../../src/dashboard/snapshot';

/** A scrape in prom-client's format: one route with a histogram, the dashboard's own /health, a breaker, memory. */
const scrape = (apiCounts: number[], healthCount: number, memory = 52_428_800) => {
  const les = ['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf'];
  let cumulative = 0;
  const api = les.map((le, i) => {
    cumulative += apiCounts[i] ?? 0;
    return `http_request_duration_seconds_bucket{le="${le}",method="GET",route="/users/:id",status_code="200",service="users"} ${cumulative}`;
  });
  const health = les.map((le) => `http_request_duration_seconds_bucket{le="${le}",method="GET",route="/health",status_code="200",service="users"} ${healthCount}`);
  return [
    '# HELP process_resident_memory_bytes Resident memory size in bytes.',
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes{service="users"} ${memory}`,
    '# HELP http_request_duration_seconds HTTP request duration by route',
    '# TYPE http_request_duration_seconds histogram',
    ...api,
    `http_request_duration_seconds_sum{method="GET",route="/users/:id",status_code="200",service="users"} 1.5`,
    `http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200",service="users"} ${cumulative}`,
    ...health,
    `http_request_duration_seconds_count{method="GET",route="/health",status_code="200",service="users"} ${healthCount}`,
    'circuit_breaker_state{breaker="postgres",service="users"} 2',
    'kafka_messages_consumed_total{topic="users.events",group="notifications",service="users"} 7',
    '',
  ].join('\n');
};

describe('parsePrometheus', () => {
  it('reads names, labels (escapes too) and values, and skips comments and junk', () => {
    const samples = parsePrometheus(
      ['# HELP x y', 'a_total 3', 'b{x="1",y="two words"} 4.5 1700000000000', 'c{path="a\\"b\\\\c\\nd"} +Inf', 'broken{x="1" 3', 'd{} NaN', '   ', 'e 1e3'].join('\n'),
    );
    expect(samples).toEqual([
      { name: 'a_total', labels: {}, value: 3 },
      { name: 'b', labels: { x: '1', y: 'two words' }, value: 4.5 },
      { name: 'c', labels: { path: 'a"b\\c\nd' }, value: Number.POSITIVE_INFINITY },
      { name: 'd', labels: {}, value: Number.NaN },
      { name: 'e', labels: {}, value: 1000 },
    ]);
  });

  it('sums a metric over series passing a label filter', () => {
    const samples = parsePrometheus(scrape([5, 5], 9));
    expect(sumOf(samples, 'http_request_duration_seconds_count')).toBe(19);
    expect(sumOf(samples, 'http_request_duration_seconds_count', (l) => l.route !== '/health')).toBe(10);
    expect(sumOf(samples, 'nope')).toBeUndefined();
  });
});

describe('histogram maths', () => {
  it('p99 interpolates inside the bucket that holds the rank, like histogram_quantile', () => {
    // 100 observations: 90 ≤ 10 ms, 10 in (25 ms, 50 ms]. Rank 99 is the 9th of 10 in (0.025, 0.05].
    const h = histogramOf(parsePrometheus(scrape([0, 0, 0, 90, 0, 10], 0)), 'http_request_duration_seconds', (l) => l.route !== '/health')!;
    expect(h.count).toBe(100);
    expect(histogramQuantile(0.99, h)).toBeCloseTo(0.025 + 0.025 * (9 / 10), 6);
    expect(histogramQuantile(0.5, h)).toBeCloseTo(0.005 + 0.005 * (50 / 90), 6);
  });

  it('a rank in the +Inf bucket answers the largest finite bound; empty is undefined', () => {
    expect(histogramQuantile(0.99, { count: 10, buckets: [{ le: 1, count: 5 }, { le: Number.POSITIVE_INFINITY, count: 10 }] })).toBe(1);
    expect(histogramQuantile(0.99, { count: 0, buckets: [{ le: 1, count: 0 }] })).toBeUndefined();
  });

  it('the delta of two scrapes holds only the new observations; a reset is undefined', () => {
    const before = histogramOf(parsePrometheus(scrape([100], 0)), 'http_request_duration_seconds')!;
    const after = histogramOf(parsePrometheus(scrape([100, 0, 0, 0, 0, 0, 0, 0, 10], 0)), 'http_request_duration_seconds')!;
    const delta = histogramDelta(before, after)!;
    expect(delta.count).toBe(10);
    // Every new request took (0.1, 0.25]: p99 lies there, not in the old 1 ms ones.
    expect(histogramQuantile(0.99, delta)).toBeGreaterThan(0.1);
    expect(histogramDelta(after, before)).toBeUndefined();
  });

  it('rates need two readings, time, and a counter that did not go back', () => {
    expect(ratePerSecond(10, 30, 2)).toBe(10);
    expect(ratePerSecond(undefined, 30, 2)).toBeUndefined();
    expect(ratePerSecond(30, 10, 2)).toBeUndefined();
    expect(ratePerSecond(10, 30, 0)).toBeUndefined();
  });
});

describe('readMetrics / trafficBetween', () => {
  it('requests/s and p99 exclude the dashboard’s own /health calls; memory and consumer groups are read', () => {
    const first = readMetrics(scrape([0, 0, 0, 50], 10), 1_000);
    const second = readMetrics(scrape([0, 0, 0, 50, 0, 0, 20], 20, 60_000_000), 3_000);
    expect(second.memoryBytes).toBe(60_000_000);
    expect(second.groups).toEqual(['notifications']);
    const traffic = trafficBetween(first, second);
    expect(traffic.requestsPerSecond).toBe(10); // 20 requests in 2 s; the 10 /health calls do not count
    expect(traffic.p99Ms).toBeGreaterThan(50);
    expect(traffic.p99Ms).toBeLessThanOrEqual(100);
  });

  it('reads the same from a scrape among thousands of other series, and never a family that only starts like one', () => {
    const noise = Array.from({ length: 5_000 }, (_, i) => `nodejs_gc_duration_seconds_bucket{le="${i}",kind="major",note="process_resident_memory_bytes 9"} ${i}`);
    const lookalikes = ['http_request_duration_seconds_total_made_up{route="/x"} 999', 'process_resident_memory_bytes_peak{service="users"} 1e12', '# process_resident_memory_bytes 5'];
    const plain = readMetrics(scrape([0, 0, 0, 50], 10), 1_000);
    const noisy = readMetrics([...noise, scrape([0, 0, 0, 50], 10), ...lookalikes].join('\n'), 1_000);
    expect(noisy).toEqual(plain);
  });

  it('no earlier scrape: unknown; no new request: zero per second and no p99', () => {
    const a = readMetrics(scrape([5], 1), 0);
    expect(trafficBetween(undefined, a)).toEqual({ requestsPerSecond: null, p99Ms: null });
    expect(trafficBetween(a, readMetrics(scrape([5], 2), 1_000))).toEqual({ requestsPerSecond: 0, p99Ms: null });
  });
});
