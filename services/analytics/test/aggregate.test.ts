import { createCloudEvent } from '@msctl/kit';
import { describe, expect, it } from 'vitest';
import { factsOf, summaryQuerySchema, timeseriesQuerySchema } from '../src/aggregate';

describe('factsOf', () => {
  it('takes the event time, falls back to the Kafka timestamp, dedups ids and skips invalid records', () => {
    const a = createCloudEvent({ type: 'a', source: '/t', subject: 'u1', time: '2024-01-01T00:00:00Z', data: {} });
    const b = { ...createCloudEvent({ type: 'b', source: '/t', subject: 'x', data: {} }), time: undefined };
    b.subject = b.id;
    const facts = factsOf([
      { event: a, timestamp: '0' },
      { event: a, timestamp: '0' },
      { event: b, timestamp: '1704067200000' },
      { event: undefined, timestamp: '0' },
    ]);
    expect(facts).toEqual([
      { id: a.id, type: 'a', time: '2024-01-01T00:00:00Z', userId: 'u1' },
      { id: b.id, type: 'b', time: '2024-01-01T00:00:00.000Z', userId: undefined },
    ]);
  });
});

describe('query schemas', () => {
  it('accepts open and ordered ranges and rejects the rest', () => {
    expect(summaryQuerySchema.safeParse({}).success).toBe(true);
    expect(summaryQuerySchema.safeParse({ from: '2024-01-01T00:00:00Z', to: '2024-01-01T00:00:00Z' }).success).toBe(true);
    expect(summaryQuerySchema.safeParse({ from: '2024-01-02T00:00:00Z', to: '2024-01-01T00:00:00Z' }).success).toBe(false);
    expect(summaryQuerySchema.safeParse({ from: 'now' }).success).toBe(false);
    expect(timeseriesQuerySchema.safeParse({ from: '2024-01-01T00:00:00Z' }).success).toBe(false);
    expect(timeseriesQuerySchema.safeParse({ type: 'a.b' }).success).toBe(true);
  });
});
