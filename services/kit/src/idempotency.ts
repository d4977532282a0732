import type { Queryable } from './postgres';

export const PROCESSED_EVENTS_MIGRATION = {
  id: '000_processed_events',
  sql: `CREATE TABLE IF NOT EXISTS processed_events (
    consumer text NOT NULL,
    event_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
  )`,
};

/**
 * Records, inside the caller's transaction, that `consumer` processes these event ids and
 * returns the ids seen for the first time. The caller applies its effect only for those, in
 * the same transaction, so a redelivered event never has its effect twice.
 */
export async function claimEvents(tx: Queryable, consumer: string, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const result = await tx.query<{ event_id: string }>(
    `INSERT INTO processed_events (consumer, event_id)
     SELECT $1, id FROM unnest($2::text[]) AS id
     ON CONFLICT DO NOTHING
     RETURNING event_id`,
    [consumer, [...new Set(eventIds)]],
  );
  return new Set(result.rows.map((row) => row.event_id));
}
