/**
 * The metric maths of the dashboard, as pure functions over parsed samples (core/prometheus):
 * sums, histograms, and rates and quantiles from the difference of two scrapes.
 */
import { parseSampleValue, type Sample } from '../core/prometheus';

export type LabelFilter = (labels: Readonly<Record<string, string>>) => boolean;

/** The sum of every sample of `name` whose labels pass `filter`; undefined when there is none. */
export function sumOf(samples: readonly Sample[], name: string, filter: LabelFilter = () => true): number | undefined {
  let found = false;
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name || !filter(sample.labels)) continue;
    found = true;
    sum += sample.value;
  }
  return found ? sum : undefined;
}

/** A histogram summed over its series: cumulative count per upper bound (`le`), sorted, +Inf last. */
export interface Histogram {
  buckets: Array<{ le: number; count: number }>;
  count: number;
}

export function histogramOf(samples: readonly Sample[], name: string, filter: LabelFilter = () => true): Histogram | undefined {
  const byLe = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket` || sample.labels.le === undefined || !filter(sample.labels)) continue;
    const le = parseSampleValue(sample.labels.le);
    if (Number.isNaN(le)) continue;
    byLe.set(le, (byLe.get(le) ?? 0) + sample.value);
  }
  if (byLe.size === 0) return undefined;
  const buckets = [...byLe.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count }));
  return { buckets, count: buckets.at(-1)!.count };
}

/** What was observed between two scrapes of one histogram; undefined when the counter was reset (a restart). */
export function histogramDelta(previous: Histogram, current: Histogram): Histogram | undefined {
  if (current.count < previous.count) return undefined;
  const before = new Map(previous.buckets.map((b) => [b.le, b.count]));
  const buckets = current.buckets.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) }));
  if (buckets.some((b) => b.count < 0)) return undefined;
  return { buckets, count: current.count - previous.count };
}

/**
 * The q-quantile of a histogram as Prometheus' histogram_quantile computes it: find the bucket
 * holding the rank, interpolate linearly inside it (from 0 for the first bucket); a rank in the
 * +Inf bucket answers the largest finite bound. Undefined when the histogram is empty.
 */
export function histogramQuantile(q: number, histogram: Histogram): number | undefined {
  const { buckets, count } = histogram;
  if (count <= 0 || buckets.length === 0) return undefined;
  const rank = q * count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) {
        const finite = buckets.filter((b) => Number.isFinite(b.le));
        return finite.length > 0 ? finite.at(-1)!.le : undefined;
      }
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return undefined;
}

/** Per second, between two readings of a counter; undefined when there is no earlier reading, no time passed, or the counter went back (reset). */
export function ratePerSecond(previous: number | undefined, current: number | undefined, seconds: number): number | undefined {
  if (previous === undefined || current === undefined || seconds <= 0 || current < previous) return undefined;
  return (current - previous) / seconds;
}
