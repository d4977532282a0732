import type { Database, Queryable } from './postgres';
import type { Logger } from './logger';

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
 * Ids are expired by age. Rows are appended in time order, so a BRIN index finds the old ones
 * for a few pages of index, and costs the claims next to nothing.
 */
export const PROCESSED_EVENTS_EXPIRY_MIGRATION = {
  id: '000_processed_events_expiry',
  sql: `CREATE INDEX IF NOT EXISTS processed_events_processed_at ON processed_events USING brin (processed_at)`,
};

/**
 * The claim as a statement of its own: records that the consumer (`consumerParam`, text) processes
 * the event ids (`idsParam`, text[], each once) and returns the ids seen for the first time as
 * `event_id`. Used as a data-modifying `WITH` query, it lets a consumer claim and apply its
 * effect in one statement: atomic without a transaction, and one round trip.
 */
export const claimEventsSql = (consumerParam: string, idsParam: string): string =>
  `INSERT INTO processed_events (consumer, event_id)
   SELECT ${consumerParam}, id FROM unnest(${idsParam}::text[]) AS id
   ON CONFLICT DO NOTHING
   RETURNING event_id`;

/**
 * Records, inside the caller's transaction, that `consumer` processes these event ids and
 * returns the ids seen for the first time. The caller applies its effect only for those, in
 * the same transaction, so a redelivered event never has its effect twice.
 */
export async function claimEvents(tx: Queryable, consumer: string, eventIds: string[]): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const result = await tx.query<{ event_id: string }>(claimEventsSql('$1', '$2'), [consumer, [...new Set(eventIds)]]);
  return new Set(result.rows.map((row) => row.event_id));
}

export interface ExpiryOptions {
  /** Ids claimed before this instant are forgotten. */
  olderThan: Date;
  /** Rows deleted per transaction: short transactions never hold consumers up. */
  batchSize?: number;
}

/**
 * Deletes the ids claimed before `olderThan`, a batch per transaction, while one instance of the
 * service holds the expiry lock (the others skip the round). Returns how many it deleted.
 */
export async function expireProcessedEvents(db: Pick<Database, 'transaction'>, options: ExpiryOptions): Promise<number> {
  const batchSize = options.batchSize ?? 5_000;
  let total = 0;
  for (;;) {
    const deleted = await db.transaction(async (tx) => {
      const { rows } = await tx.query<{ locked: boolean }>(
        `SELECT pg_try_advisory_xact_lock(hashtext('msctl-processed-events-expiry:' || current_schema())) AS locked`,
      );
      if (!rows[0]?.locked) return 0;
      const result = await tx.query(
        `DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
           SELECT ctid FROM processed_events WHERE processed_at < $1 LIMIT $2))`,
        [options.olderThan, batchSize],
      );
      return result.rowCount ?? 0;
    });
    total += deleted;
    if (deleted < batchSize) return total;
  }
}

/**
 * How long a consumer must remember an id: as long as Kafka may deliver the record again (the
 * longest retention of the topics it consumes, Infinity for "for ever"), plus a margin for the
 * time between a record's append and its processing. An explicit setting wins.
 */
export function idempotencyWindowMs(retentionMs: number, marginMs: number, configuredMs?: number): number | undefined {
  if (configuredMs !== undefined) return configuredMs;
  return Number.isFinite(retentionMs) ? retentionMs + marginMs : undefined;
}

export interface IdempotencyJanitorOptions {
  db: Pick<Database, 'transaction'>;
  logger: Logger;
  /** How long an id is kept; undefined: for ever (a topic that keeps its records for ever can redeliver any of them). */
  windowMs: number | undefined;
  /** Between rounds (default one hour). */
  intervalMs?: number;
  now?: () => number;
}

/** Expires processed_events past the idempotency window, once after start and then every interval. */
export class IdempotencyJanitor {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<number> | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: IdempotencyJanitorOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.options.windowMs === undefined) return;
    this.schedule(60_000);
  }

  /** One round now: deletes what is older than the window; returns how many ids it forgot. */
  async runOnce(): Promise<number> {
    if (this.options.windowMs === undefined) return 0;
    this.round ??= expireProcessedEvents(this.options.db, { olderThan: new Date(this.now() - this.options.windowMs) }).finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.round?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.runOnce()
        .then((deleted) => {
          if (deleted > 0) this.options.logger.info({ deleted, windowMs: this.options.windowMs }, 'expired processed event ids');
        })
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'could not expire processed event ids; will try again'))
        .finally(() => this.schedule(this.options.intervalMs ?? 3_600_000));
    }, delayMs);
    this.timer.unref();
  }
}
