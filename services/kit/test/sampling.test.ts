import { ROOT_CONTEXT, SpanKind, TraceFlags, context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SamplingDecision, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { RateLimitingSampler, createTracing, extractContext, samplerFromEnv, traceHttpClient, withTracing } from '../src/tracing';

const decide = (sampler: { shouldSample: (...args: never[]) => { decision: SamplingDecision } }) =>
  (sampler.shouldSample as (...args: unknown[]) => { decision: SamplingDecision })(ROOT_CONTEXT, 'a'.repeat(32), 'span', SpanKind.SERVER, {}, []).decision;

describe('trace sampling', () => {
  it('starts at most N new traces a second, and starts again as the second passes', () => {
    let now = 0;
    const sampler = new RateLimitingSampler(3, () => now);
    const first = Array.from({ length: 5 }, () => decide(sampler));
    expect(first.filter((d) => d === SamplingDecision.RECORD_AND_SAMPLED)).toHaveLength(3);
    now += 1_000;
    const next = Array.from({ length: 5 }, () => decide(sampler));
    expect(next.filter((d) => d === SamplingDecision.RECORD_AND_SAMPLED)).toHaveLength(3);
    now += 100;
    expect(decide(sampler)).toBe(SamplingDecision.NOT_RECORD);
  });

  it('by default follows a sampled parent always, and limits new traces to 10 a second', () => {
    const sampler = samplerFromEnv({});
    const sampledParent = extractContext({ traceparent: `00-${'12'.repeat(16)}-${'34'.repeat(8)}-01` });
    const unsampledParent = extractContext({ traceparent: `00-${'12'.repeat(16)}-${'34'.repeat(8)}-00` });
    const asChild = (parent: typeof ROOT_CONTEXT) => sampler.shouldSample(parent, '12'.repeat(16), 'span', SpanKind.SERVER, {}, []).decision;
    for (let i = 0; i < 50; i++) expect(asChild(sampledParent)).toBe(SamplingDecision.RECORD_AND_SAMPLED);
    expect(asChild(unsampledParent)).toBe(SamplingDecision.NOT_RECORD);
    const roots = Array.from({ length: 50 }, () => asChild(ROOT_CONTEXT));
    expect(roots.filter((d) => d === SamplingDecision.RECORD_AND_SAMPLED)).toHaveLength(10);
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_always_on' }).toString()).toContain('AlwaysOn');
    expect(samplerFromEnv({ OTEL_TRACES_SAMPLER_ARG: '2' }).toString()).toContain('RateLimitingSampler{2/s}');
  });

  it('records nothing inside an unsampled trace, yet tells the next hop it is not sampled', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ service: 'unit', env: { OTEL_TRACES_SAMPLER: 'parentbased_always_off' }, processors: [new SimpleSpanProcessor({ exporter })] });
    const root = tracing.tracer.startSpan('GET /x', { kind: SpanKind.SERVER });
    expect(root.isRecording()).toBe(false);
    const ctx = withTracing(trace.setSpan(ROOT_CONTEXT, root), tracing);
    const sent = await context.with(ctx, () => traceHttpClient({ method: 'GET', url: 'http://127.0.0.1:1', path: '/y' }, {}, async (headers) => ({ statusCode: 200, headers })));
    const [, traceId, , flags] = sent.headers.traceparent!.split('-');
    expect(traceId).toBe(root.spanContext().traceId);
    expect(Number.parseInt(flags!, 16) & TraceFlags.SAMPLED).toBe(0);
    root.end();
    expect(exporter.getFinishedSpans()).toHaveLength(0);
    await tracing.shutdown();
  });
});
