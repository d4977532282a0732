/** The pure part of analytics: what a consumed event counts as, and the query parameters. */
import type { ConsumedRecord } from '@msctl/kit';
import { z } from 'zod';

export interface EventFact {
  id: string;
  type: string;
  /** The event's own time (ISO), or the Kafka timestamp when the event has none. */
  time: string;
  /** The user the event is about, when it is about one. */
  userId: string | undefined;
}

const kafkaTime = (timestamp: string): string => {
  const ms = Number(timestamp);
  return new Date(Number.isFinite(ms) && ms >= 0 ? ms : Date.now()).toISOString();
};

/**
 * One fact per distinct event id of a batch (a duplicate inside the batch counts once).
 * The subject is taken as the user id, except when it is the event's own id: that is what
 * data-processing puts there when an event names neither a subject nor a user.
 */
export function factsOf(records: Array<Pick<ConsumedRecord, 'event' | 'timestamp'>>): EventFact[] {
  const facts = new Map<string, EventFact>();
  for (const record of records) {
    const event = record.event;
    if (!event || facts.has(event.id)) continue;
    const subject = event.subject && event.subject !== event.id ? event.subject : undefined;
    facts.set(event.id, { id: event.id, type: event.type, time: event.time ?? kafkaTime(record.timestamp), userId: subject });
  }
  return [...facts.values()];
}

const instant = z.iso.datetime({ offset: true, message: 'an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z' });

const range = {
  from: instant.optional(),
  to: instant.optional(),
};

const orderedRange = <T extends { from?: string | undefined; to?: string | undefined }>(value: T) =>
  value.from === undefined || value.to === undefined || Date.parse(value.from) <= Date.parse(value.to);

const rangeMessage = { message: '"from" must not be after "to"', path: ['from'] };

export const summaryQuerySchema = z.object(range).refine(orderedRange, rangeMessage);

export const timeseriesQuerySchema = z
  .object({
    type: z.string().min(1).max(128),
    ...range,
  })
  .refine(orderedRange, rangeMessage);

export type SummaryQuery = z.infer<typeof summaryQuerySchema>;
export type TimeseriesQuery = z.infer<typeof timeseriesQuerySchema>;
