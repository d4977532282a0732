/**
 * bench/pipeline: the highest event rate the whole ingest pipeline holds for --seconds (60), on
 * a throwaway stack, driven by `msctl load-test ingest --rate <r>` (open model). A rate is held
 * when, over the measured window:
 *
 *   - the stack keeps pace: no non-2xx, errors or unanswered requests, and the events answered
 *     within the window (not after it, from requests queued behind a slow stack) within 3 % of
 *     the rate;
 *   - consumer lag stays bounded, for analytics and notifications on events.processed and for
 *     data-processing on events.raw (a backlog there starves the other two): the lag at the end
 *     is at most --max-lag-seconds' worth of events, and over the second half it grows by at most
 *     one second's worth of events per minute;
 *   - every event is counted once: the load-test's ingest check (analytics counted == accepted).
 *
 * The search starts at --start events/s, goes up or down by half until a held rate and a failed
 * one bracket the limit, then bisects, --steps runs in all. Between runs the consumers drain
 * (lag 0), so that no run inherits a backlog.
 *
 * Before the search, --stack-warmup seconds (120) of `load-test ingest` (closed model) let Kafka's
 * JVM and the services' V8 compile their hot paths, so that the search measures the stack, not
 * its compilers: a fresh stack's first minute of ingest measured about half of its third.
 *
 *   npm run bench:pipeline [-- --seconds 60 --start 5000 --steps 6 --max-lag-seconds 5 --warmup 5 --stack-warmup 120 --connections 64]
 *
 * Writes bench/results/pipeline.json and rewrites bench/results/SUMMARY.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { sleep } from '../src/core/sleep';
import { join } from 'node:path';
import { connectTopicsKafka, type TopicsKafka } from '../src/infra/kafka/client';
import { builtInScenario } from '../src/load/scenarios';
import { WATCHED, drain, lagOf } from './lag';
import { arg, loadTest, log, machine, resultsDir, slope, withThrowawayStack, writeSummary, type Msctl } from './load';

const seconds = arg('seconds', 60);
const start = arg('start', 5_000);
const steps = arg('steps', 6);
const maxLagSeconds = arg('max-lag-seconds', 5);
const warmup = arg('warmup', 5);
const stackWarmup = arg('stack-warmup', 120);
const connections = arg('connections', 64);
const LAG_SAMPLE_MS = 2_000;
/** Lag growing faster than this many seconds' worth of events per minute is trending up. */
const MAX_TREND_SECONDS_PER_MINUTE = 1;

/** `--rate` counts requests: the ingest scenario's mix of single events and batches sets how many events one carries. */
const eventsPerRequest = (() => {
  const templates = builtInScenario('ingest', 'pipeline');
  const events = (body: string | undefined) => (JSON.parse(body ?? '{}') as { events?: unknown[] }).events?.length ?? 1;
  return templates.reduce((sum, t) => sum + t.weight * events(t.body), 0) / templates.reduce((sum, t) => sum + t.weight, 0);
})();

async function attempt(msctl: Msctl, kafka: TopicsKafka, eventsPerSecond: number) {
  const requestsPerSecond = Math.round((eventsPerSecond / eventsPerRequest) * 10) / 10;
  const samples: Array<{ at: number; lag: Record<string, number> }> = [];
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const at = Date.now();
      try {
        samples.push({ at, lag: await lagOf(kafka) });
      } catch (error) {
        log(`pipeline: lag not read (${(error as Error).message}); the next sample will tell`);
      }
      await sleep(Math.max(0, LAG_SAMPLE_MS - (Date.now() - at)));
    }
  })();
  const run = await loadTest(msctl, ['ingest', '--rate', String(requestsPerSecond), '--duration', String(seconds), '--warmup', String(warmup), '--connections', String(connections)]).finally(() => {
    sampling = false;
  });
  await sampler;

  const { result } = run;
  const began = Date.parse(result.startedAt);
  const ended = began + result.durationSeconds * 1000;
  const window = samples.filter((s) => s.at >= began && s.at <= ended);
  const reasons: string[] = [];
  const t = result.totals;
  if (t.non2xx || t.errors || t.unanswered) {
    // Which answers they were (a 429, a 503 with Retry-After, a 504) says where the limit is.
    const refused = Object.entries(t.statusCodes).filter(([code]) => !code.startsWith('2'));
    const named = [...refused.map(([code, n]) => `${n} × ${code}`), ...Object.entries(t.errorsByCode).map(([code, n]) => `${n} × ${code}`)];
    reasons.push(`${t.non2xx} non-2xx, ${t.errors} errors, ${t.unanswered} unanswered${named.length ? ` (${named.join(', ')})` : ''}`);
  }
  // totals count answers that came after the window too (the generator waits for them), so a
  // stack running seconds behind the schedule would still look as if it kept pace.
  const answered = Math.round(result.timeline.filter((s) => s.second < result.durationSeconds).reduce((sum, s) => sum + s.events, 0) / result.durationSeconds);
  if (answered < 0.97 * eventsPerSecond) reasons.push(`${answered} events/s answered within the window`);
  if (!result.ingestCheck.ok) reasons.push(`analytics counted ${result.ingestCheck.counted ?? 'none'} of ${result.ingestCheck.accepted} accepted`);
  if (window.length < 3) reasons.push(`only ${window.length} lag samples in the window`);
  const lag = Object.fromEntries(
    WATCHED.map(({ group }) => {
      const atEnd = window.at(-1)?.lag[group] ?? null;
      const secondHalf = window.filter((s) => s.at >= (began + ended) / 2).map((s) => ({ x: (s.at - began) / 60_000, y: s.lag[group]! }));
      const perMinute = slope(secondHalf);
      const endSeconds = atEnd === null ? null : Math.round((atEnd / eventsPerSecond) * 100) / 100;
      const trendSecondsPerMinute = perMinute === null ? null : Math.round((perMinute / eventsPerSecond) * 100) / 100;
      if (endSeconds !== null && endSeconds > maxLagSeconds) reasons.push(`${group} lag ${atEnd} events (${endSeconds} s) at the end`);
      if (trendSecondsPerMinute !== null && trendSecondsPerMinute > MAX_TREND_SECONDS_PER_MINUTE) reasons.push(`${group} lag growing ${trendSecondsPerMinute} s/min`);
      return [group, { atEnd, endSeconds, trendSecondsPerMinute, max: Math.max(0, ...window.map((s) => s.lag[group]!)) }];
    }),
  );
  const held = reasons.length === 0;
  log(
    `pipeline ${eventsPerSecond} events/s (${requestsPerSecond} req/s): ${held ? 'held' : `not held — ${reasons.join('; ')}`}; p99 ${result.latency.p99} ms, generator ${run.generatorCpuPercent ?? '?'} % of a core`,
  );
  return {
    eventsPerSecond,
    requestsPerSecond,
    held,
    reasons,
    acceptedEventsPerSecond: t.eventsPerSecond,
    answeredInWindowEventsPerSecond: answered,
    p99Ms: result.latency.p99,
    late: t.late,
    statusCodes: t.statusCodes,
    errorsByCode: t.errorsByCode,
    ingestCheck: result.ingestCheck,
    lag,
    // Seconds since the measured phase began, and each group's lag then.
    lagSamples: samples.map((s) => [Math.round((s.at - began) / 100) / 10, ...WATCHED.map(({ group }) => s.lag[group]!)]),
    generatorCpuPercent: run.generatorCpuPercent,
    drained: true,
  };
}

const roundRate = (rate: number) => Math.max(100, Math.round(rate / 100) * 100);

const outcome = await withThrowawayStack(async ({ msctl, kafkaBroker }) => {
  const kafka = await connectTopicsKafka([kafkaBroker], 'msctl-bench-pipeline');
  try {
    if (stackWarmup > 0) {
      log(`pipeline: warming the stack up, ${stackWarmup} s of load-test ingest (not measured)`);
      await loadTest(msctl, ['ingest', '--duration', String(stackWarmup), '--connections', '16']);
      if (!(await drain(kafka))) log('pipeline: the consumers did not drain within 120 s after the warm-up');
    }
    const attempts: Array<Awaited<ReturnType<typeof attempt>>> = [];
    let held: number | null = null;
    let failed: number | null = null;
    let rate = roundRate(start);
    for (let i = 0; i < steps; i++) {
      const result = await attempt(msctl, kafka, rate);
      result.drained = await drain(kafka);
      if (!result.drained) log('pipeline: the consumers did not drain within 120 s; the next run starts with a backlog');
      attempts.push(result);
      if (result.held) held = Math.max(held ?? 0, rate);
      else failed = Math.min(failed ?? Number.POSITIVE_INFINITY, rate);
      const next: number = failed === null ? roundRate(rate * 1.5) : held === null ? roundRate(rate / 1.5) : roundRate((held + failed) / 2);
      if (next === held || next === failed || attempts.some((a) => a.eventsPerSecond === next)) break;
      rate = next;
    }
    return { held, failed, attempts };
  } finally {
    await kafka.close();
  }
});

const summary =
  outcome.held === null
    ? `no rate held for ${seconds} s (lowest tried: ${Math.min(...outcome.attempts.map((a) => a.eventsPerSecond))} events/s)`
    : `${outcome.held} events/s held for ${seconds} s with consumer lag bounded and every event counted once${outcome.failed === null ? ' (no higher rate failed: the limit is above)' : `; ${outcome.failed} events/s was not`}`;
const document = {
  benchmark: 'pipeline',
  description: `highest event rate held: msctl load-test ingest --rate (open model, ${eventsPerRequest} events per request), after ${stackWarmup} s of load-test ingest on the fresh stack; lag of ${WATCHED.map((w) => `${w.group} on ${w.topic}`).join(', ')}`,
  when: new Date().toISOString(),
  machine: machine(),
  settings: { seconds, start, steps, maxLagSeconds, maxTrendSecondsPerMinute: MAX_TREND_SECONDS_PER_MINUTE, warmup, stackWarmup, connections, eventsPerRequest, lagSampleMs: LAG_SAMPLE_MS },
  summary,
  heldEventsPerSecond: outcome.held,
  firstFailedEventsPerSecond: outcome.failed,
  attempts: outcome.attempts,
};
await mkdir(resultsDir, { recursive: true });
await writeFile(join(resultsDir, 'pipeline.json'), `${JSON.stringify(document, null, 2)}\n`);
await writeSummary();
process.stdout.write(`pipeline: ${summary}\n`);
