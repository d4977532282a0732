import type pg from 'pg';
import { createCloudEvent, type CloudEvent } from './cloudevents';
import type { EventProducer } from './kafka';
import { toMessage } from './kafka';
import type { Logger } from './logger';
import type { Database, Queryable } from './postgres';
import { activeSpan, injectContext } from './tracing';
import { context } from '@opentelemetry/api';

export const OUTBOX_MIGRATION = {
  id: '000_outbox',
  sql: `CREATE TABLE IF NOT EXISTS outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    message_key text,
    event jsonb NOT NULL,
    headers jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
  );
  CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (id) WHERE published_at IS NULL;`,
};

const NOTIFY_CHANNEL = 'msctl_outbox';
const CLEAN_UP_INTERVAL_MS = 60_000;

/**
 * Writes an event into the outbox inside the caller's transaction, so it exists if and only
 * if the state change it describes was committed. NOTIFY wakes the relay at commit time.
 * Inside a traced request the row keeps its `traceparent` in `headers`, so the relay's publish
 * (in the background, later) continues the request's trace.
 */
export async function enqueueEvent(
  tx: Queryable,
  topic: string,
  event: CloudEvent,
  headers: Record<string, string> = {},
): Promise<void> {
  const stored = storedHeaders(headers);
  await tx.query(`INSERT INTO outbox (topic, message_key, event, headers) VALUES ($1, $2, $3, $4)`, [
    topic,
    event.subject ?? null,
    JSON.stringify(event),
    JSON.stringify(stored),
  ]);
  await tx.query(`SELECT pg_notify($1, $2)`, [NOTIFY_CHANNEL, topic]);
}

/** The headers an outbox row keeps: the active request's `traceparent`, unless one is given. */
function storedHeaders(headers: Record<string, string>): Record<string, string> {
  return headers.traceparent === undefined && activeSpan() ? injectContext(context.active(), { ...headers }) : headers;
}

export interface ChangeWithEvent {
  /** One INSERT, UPDATE or DELETE … RETURNING: the state change. */
  change: { text: string; values: unknown[] };
  topic: string;
  /** The event's type and source; its id and time are new, its subject and data come from the row. */
  event: { type: string; source: string };
  /** SQL over the returned row's columns: the event's subject, e.g. `id::text`. */
  subjectSql: string;
  /** SQL over the returned row's columns: the event's data, e.g. `jsonb_build_object('id', id)`. */
  dataSql: string;
  headers?: Record<string, string>;
}

/**
 * A state change and the event that describes it in one statement: the change's rows, each
 * written into the outbox in the same statement, and the relay woken when it commits. One round
 * trip where BEGIN, the change, the outbox row, NOTIFY and COMMIT took five; a statement is
 * atomic, so the event exists if and only if the change does.
 */
export async function changeWithEvent<Row extends pg.QueryResultRow>(db: Queryable, spec: ChangeWithEvent): Promise<Row[]> {
  const { subject: _subject, data: _data, ...envelope } = createCloudEvent({ ...spec.event, subject: '', data: null });
  const base = spec.change.values.length;
  const param = (n: number) => `$${base + n}`;
  const text = `WITH changed AS (${spec.change.text}),
    queued AS (
      INSERT INTO outbox (topic, message_key, event, headers)
      SELECT ${param(1)}, (${spec.subjectSql}), ${param(2)}::jsonb || jsonb_build_object('subject', (${spec.subjectSql}), 'data', (${spec.dataSql})), ${param(3)}::jsonb
      FROM changed
      RETURNING 1
    )
    SELECT changed.* FROM changed LEFT JOIN LATERAL (SELECT pg_notify(${param(4)}, ${param(1)}) FROM queued LIMIT 1) AS woken ON true`;
  const { rows } = await db.query<Row>(text, [
    ...spec.change.values,
    spec.topic,
    JSON.stringify(envelope),
    JSON.stringify(storedHeaders(spec.headers ?? {})),
    NOTIFY_CHANNEL,
  ]);
  return rows;
}

interface OutboxRow {
  id: string;
  topic: string;
  event: CloudEvent;
  headers: Record<string, string>;
}

export interface OutboxRelayOptions {
  db: Pick<Database, 'transaction' | 'query' | 'connectDedicated'>;
  producer: Pick<EventProducer, 'send'>;
  logger: Logger;
  batchSize?: number;
  /** Polls this often even without a notification (covers a lost LISTEN connection). */
  pollIntervalMs?: number;
  /** Published rows older than this are deleted. */
  retentionMs?: number;
  /**
   * How long a notification waits for others before the relay publishes (default 0: at once;
   * services use OUTBOX_LINGER_MS): rows committed close together leave in one Kafka request.
   * Under load it is also the least time between two rounds.
   */
  lingerMs?: number;
}

/**
 * Publishes outbox rows to Kafka in id order and marks them published, in one transaction
 * per batch. Safe with several replicas: rows are locked FOR UPDATE SKIP LOCKED and one
 * transaction-scoped advisory lock lets a single replica publish at a time, so no row is
 * published twice and one key's events keep their commit order. A crash between the Kafka
 * ack and the commit publishes the batch again on restart (at-least-once — consumers
 * deduplicate by event id).
 */
export class OutboxRelay {
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private draining: Promise<void> | undefined;
  private wakeAgain = false;
  private failures = 0;
  private lastCleanUp = 0;
  private lingering = false;

  constructor(private readonly options: OutboxRelayOptions) {}

  async start(): Promise<void> {
    this.running = true;
    await this.listen();
    this.schedule(0);
  }

  /**
   * Publishes until the outbox is empty; returns how many rows it published. A batch short of
   * full means it was empty: a row committed since then has woken the relay again, so no round
   * of five statements is spent to find nothing.
   */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const published = await this.publishBatch();
      total += published;
      if (published < this.batchSize) return total;
    }
  }

  private get batchSize(): number {
    return this.options.batchSize ?? 200;
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.draining?.catch(() => undefined);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  private async publishBatch(): Promise<number> {
    const { db, producer } = this.options;
    // A Kafka failure is caught inside and rethrown outside the transaction, so that it does not
    // count against the postgres breaker (which would refuse the service's writes while Kafka is down).
    let sendError: { error: unknown } | undefined;
    const published = await db.transaction(async (tx) => {
      // One publisher at a time per outbox: two replicas taking alternate batches would
      // reorder one key's events in Kafka. The others find the lock taken, select nothing and
      // wait for the next round. The lock is the statement's one-time filter (an uncorrelated
      // subquery runs once, before the scan): one round trip, not one for the lock and one for the rows.
      const { rows } = await tx.query<OutboxRow>(
        `SELECT id, topic, event, headers FROM outbox
         WHERE published_at IS NULL AND (SELECT pg_try_advisory_xact_lock(hashtext('msctl-outbox:' || current_schema())))
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      // One send per topic, rows in id order: the producer keeps their order per partition.
      const byTopic = new Map<string, OutboxRow[]>();
      for (const row of rows) byTopic.set(row.topic, [...(byTopic.get(row.topic) ?? []), row]);
      try {
        await Promise.all(
          [...byTopic].map(([topic, topicRows]) =>
            producer.send(topic, topicRows.map((row) => toMessage(row.event, row.headers)), { operation: 'outbox publish' }),
          ),
        );
      } catch (error) {
        sendError = { error };
        return 0; // nothing marked: the rows stay unpublished and are retried
      }
      await tx.query(`UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
      return rows.length;
    });
    if (sendError) throw sendError.error;
    return published;
  }

  private wake = (): void => {
    this.lingering = false;
    if (!this.running) return;
    if (this.draining) {
      this.wakeAgain = true;
      return;
    }
    this.draining = this.drainAndCleanUp()
      .then(() => {
        this.failures = 0;
      })
      .catch((error: unknown) => {
        this.failures += 1;
        this.options.logger.warn({ err: error, failures: this.failures }, 'outbox relay could not publish; will retry');
      })
      .finally(() => {
        this.draining = undefined;
        if (this.wakeAgain) {
          this.wakeAgain = false;
          // Commits kept coming while that round ran: the next one waits the linger as well, so
          // under load the relay publishes once per linger, not once per round trip.
          this.lingerThenWake();
        } else {
          this.schedule(this.failures > 0 ? Math.min(200 * 2 ** this.failures, 5_000) : this.options.pollIntervalMs ?? 1_000);
        }
      });
  };

  /** A commit woke the relay: publish after the linger, together with what commits meanwhile. */
  private notified = (): void => {
    if (!this.running) return;
    if (this.draining) {
      this.wakeAgain = true;
      return;
    }
    if ((this.options.lingerMs ?? 0) === 0) this.wake();
    else if (!this.lingering) this.lingerThenWake();
  };

  /** Publishes after the linger, with everything committed meanwhile; notifications until then add nothing. */
  private lingerThenWake(): void {
    this.lingering = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.wake, this.options.lingerMs ?? 0);
  }

  private async drainAndCleanUp(): Promise<void> {
    await this.drain();
    if (!this.listener) await this.listen();
    if (Date.now() - this.lastCleanUp < CLEAN_UP_INTERVAL_MS) return;
    this.lastCleanUp = Date.now();
    const retentionMs = this.options.retentionMs ?? 3_600_000;
    await this.options.db.query(
      `DELETE FROM outbox WHERE published_at < now() - ($1::double precision * interval '1 millisecond')`,
      [retentionMs],
    );
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.lingering = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.wake, delayMs);
  }

  private async listen(): Promise<void> {
    let connection: pg.Client | undefined;
    try {
      const client = await this.options.db.connectDedicated();
      connection = client;
      client.on('notification', this.notified);
      client.on('error', () => {
        // The polling loop keeps publishing; the next round reconnects the listener.
        if (this.listener === client) this.listener = undefined;
        client.end().catch(() => undefined);
      });
      await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
      this.listener = client;
    } catch (error) {
      // The next round opens a new connection: this one must not stay open beside it.
      connection?.end().catch(() => undefined);
      this.options.logger.warn({ err: error }, 'outbox relay cannot LISTEN yet; polling');
    }
  }
}
