/**
 * The outbox relay's recovery paths against fakes: an in-memory outbox that commits or rolls
 * back a transaction as a whole and delivers NOTIFY at commit, a LISTEN connection that can be
 * dropped, and a producer that can refuse. Time is vitest's fake clock: the relay's waits are
 * read from it, never from the wall clock. The SQL itself is covered by outbox.test.ts.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCloudEvent, type CloudEvent } from '../src/cloudevents';
import { claimEvents } from '../src/idempotency';
import { createLogger } from '../src/logger';
import { OutboxRelay, enqueueEvent, type OutboxRelayOptions } from '../src/outbox';
import type { Queryable } from '../src/postgres';
import type { OutgoingMessage } from '../src/records';

const logger = createLogger('outbox-relay-test', 'silent');
const TOPIC = 'orders';

interface OutboxRow {
  id: number;
  topic: string;
  event: CloudEvent;
  headers: Record<string, string>;
  publishedAt: number | null;
}

type Result = { rows: unknown[]; rowCount: number };

/** A dedicated connection: LISTEN, notifications, and a server that may go away. */
class FakeListenClient extends EventEmitter {
  listening = false;
  ended = false;

  constructor(private readonly refuseListen: boolean) {
    super();
  }

  async query(text: string): Promise<Result> {
    if (!/^LISTEN msctl_outbox$/.test(text)) throw new Error(`fake listener: unexpected query ${text}`);
    if (this.refuseListen) throw new Error('LISTEN is not supported in transaction pooling mode');
    this.listening = true;
    return { rows: [], rowCount: 0 };
  }

  async end(): Promise<void> {
    this.ended = true;
    this.listening = false;
  }

  /** The server closed the connection: pg emits 'error' on the client. */
  drop(): void {
    this.listening = false;
    this.emit('error', new Error('Connection terminated unexpectedly'));
  }
}

/**
 * The outbox table and processed_events, answering the statements the kit sends. A transaction
 * works on a copy that replaces the tables at COMMIT; notifications go out at COMMIT, as in PostgreSQL.
 */
class FakeDatabase {
  rows: OutboxRow[] = [];
  processed = new Set<string>();
  listeners: FakeListenClient[] = [];
  deletes = 0;
  /** The next COMMITs fail (the connection is lost after the statements ran): rolled back. */
  failCommits = 0;
  /** The next dedicated connections fail to open, or open and refuse LISTEN. */
  refuseConnects = 0;
  refuseListens = 0;
  /** Another replica's relay holds the outbox's advisory lock. */
  lockedElsewhere = false;
  /** The statements of each transaction, in order. */
  transactions: string[][] = [];
  private nextId = 1;

  readonly db: OutboxRelayOptions['db'] = {
    query: (async (text: string, values?: unknown[]) => {
      const notify: string[] = [];
      const state = { rows: this.rows, processed: this.processed };
      const result = this.run(state, notify, text, values ?? []);
      this.rows = state.rows;
      this.processed = state.processed;
      this.deliver(notify);
      return result;
    }) as OutboxRelayOptions['db']['query'],
    transaction: (async <T>(work: (tx: pg.PoolClient) => Promise<T>): Promise<T> => {
      const snapshot = this.rows;
      const state = { rows: this.rows.map((row) => ({ ...row })), processed: new Set(this.processed) };
      const notify: string[] = [];
      const statements: string[] = [];
      this.transactions.push(statements);
      const tx = {
        query: async (text: string, values?: unknown[]) => {
          statements.push(text.replace(/\s+/g, ' ').trim());
          return this.run(state, notify, text, values ?? []);
        },
      };
      const result = await work(tx as unknown as pg.PoolClient);
      if (this.failCommits > 0) {
        this.failCommits -= 1;
        throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
      }
      this.commit(snapshot, state);
      this.deliver(notify);
      return result;
    }) as OutboxRelayOptions['db']['transaction'],
    connectDedicated: async () => {
      if (this.refuseConnects > 0) {
        this.refuseConnects -= 1;
        throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
      }
      const refuse = this.refuseListens > 0;
      if (refuse) this.refuseListens -= 1;
      const client = new FakeListenClient(refuse);
      this.listeners.push(client);
      return client as unknown as pg.Client;
    },
  };

  /**
   * Applies what a transaction changed row by row, as PostgreSQL does: transactions that ran
   * meanwhile (a commit while the relay waits for Kafka) keep their own rows.
   */
  private commit(snapshot: OutboxRow[], state: { rows: OutboxRow[]; processed: Set<string> }): void {
    const before = new Map(snapshot.map((row) => [row.id, row]));
    const after = new Map(state.rows.map((row) => [row.id, row]));
    const kept = this.rows.filter((row) => !before.has(row.id) || after.has(row.id));
    const changed = kept.map((row) => (before.get(row.id) && after.get(row.id)!.publishedAt !== before.get(row.id)!.publishedAt ? after.get(row.id)! : row));
    const inserted = state.rows.filter((row) => !before.has(row.id));
    this.rows = [...changed, ...inserted].sort((a, b) => a.id - b.id);
    for (const id of state.processed) this.processed.add(id);
  }

  /** The application's transaction: a state change and its event, committed together. */
  enqueue(event: CloudEvent, topic = TOPIC): Promise<void> {
    return this.db.transaction((tx) => enqueueEvent(tx, topic, event));
  }

  unsent(): string[] {
    return this.rows.filter((row) => row.publishedAt === null).map((row) => row.event.id);
  }

  /** The listeners still open. */
  open(): FakeListenClient[] {
    return this.listeners.filter((client) => !client.ended);
  }

  private run(state: { rows: OutboxRow[]; processed: Set<string> }, notify: string[], text: string, values: unknown[]): Result {
    const sql = text.replace(/\s+/g, ' ').trim();
    if (sql.startsWith('INSERT INTO outbox ')) {
      const [topic, , event, headers] = values as [string, string | null, string, string];
      state.rows.push({ id: this.nextId++, topic, event: JSON.parse(event) as CloudEvent, headers: JSON.parse(headers) as Record<string, string>, publishedAt: null });
      return { rows: [], rowCount: 1 };
    }
    if (sql.startsWith('SELECT pg_notify(')) {
      notify.push(String(values[1]));
      return { rows: [], rowCount: 1 };
    }
    if (sql.startsWith("SELECT id, topic, event, headers FROM outbox WHERE published_at IS NULL AND (SELECT pg_try_advisory_xact_lock(hashtext('msctl-outbox:' || current_schema()))) ORDER BY id LIMIT $1")) {
      if (this.lockedElsewhere) return { rows: [], rowCount: 0 };
      const rows = state.rows
        .filter((row) => row.publishedAt === null)
        .slice(0, Number(values[0]))
        .map((row) => ({ id: String(row.id), topic: row.topic, event: row.event, headers: row.headers }));
      return { rows, rowCount: rows.length };
    }
    if (sql.startsWith('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])')) {
      const ids = new Set((values[0] as string[]).map(Number));
      const marked = state.rows.filter((row) => ids.has(row.id));
      for (const row of marked) row.publishedAt = Date.now();
      return { rows: [], rowCount: marked.length };
    }
    if (sql.startsWith("DELETE FROM outbox WHERE published_at < now() - ($1::double precision * interval '1 millisecond')")) {
      this.deletes += 1;
      const before = state.rows.length;
      state.rows = state.rows.filter((row) => row.publishedAt === null || row.publishedAt >= Date.now() - Number(values[0]));
      return { rows: [], rowCount: before - state.rows.length };
    }
    if (sql.startsWith('INSERT INTO processed_events (consumer, event_id) SELECT $1, id FROM unnest($2::text[]) AS id ON CONFLICT DO NOTHING RETURNING event_id')) {
      const [consumer, ids] = values as [string, string[]];
      const fresh = ids.filter((id) => !state.processed.has(`${consumer}/${id}`));
      for (const id of fresh) state.processed.add(`${consumer}/${id}`);
      return { rows: fresh.map((id) => ({ event_id: id })), rowCount: fresh.length };
    }
    throw new Error(`fake database: unexpected statement ${sql}`);
  }

  private deliver(channels: string[]): void {
    for (const channel of channels) {
      for (const client of this.listeners) if (client.listening) client.emit('notification', { channel: 'msctl_outbox', payload: channel });
    }
  }
}

/** A producer whose sends Kafka acknowledges, or refuses while `refusals` says so. */
class FakeProducer {
  /** Every message Kafka acknowledged, in order, duplicates included. */
  readonly acked: Array<{ topic: string; id: string }> = [];
  /** When each send was tried (fake clock). */
  readonly attempts: number[] = [];
  refusals = 0;
  /** How long Kafka takes to acknowledge a send (fake clock). */
  delayMs = 0;

  readonly producer: OutboxRelayOptions['producer'] = {
    send: async (topic: string, messages: OutgoingMessage[]) => {
      this.attempts.push(Date.now());
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      if (this.refusals > 0) {
        this.refusals -= 1;
        throw Object.assign(new Error('kafka is unavailable (circuit open)'), { name: 'CircuitOpenError' });
      }
      for (const message of messages) this.acked.push({ topic, id: (JSON.parse(String(message.value)) as CloudEvent).id });
    },
  };

  ids(): string[] {
    return this.acked.map((message) => message.id);
  }
}

const event = (n: number) => createCloudEvent({ type: 'order.placed', source: '/test', subject: `order-${n}`, data: { n } });

/** Lets the promise chains a timer or a notification started run to their end (setImmediate is not faked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

let database: FakeDatabase;
let kafka: FakeProducer;
const relays: OutboxRelay[] = [];

/** Starts a relay and lets its first round (due at once) run. */
async function startRelay(options: Partial<OutboxRelayOptions> = {}): Promise<OutboxRelay> {
  const created = new OutboxRelay({ db: database.db, producer: kafka.producer, logger, ...options });
  relays.push(created);
  await created.start();
  await vi.advanceTimersByTimeAsync(0);
  await settle();
  return created;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: Date.parse('2026-12-01T12:00:00Z') });
  database = new FakeDatabase();
  kafka = new FakeProducer();
});

afterEach(async () => {
  await Promise.all(relays.splice(0).map((r) => r.stop()));
  vi.useRealTimers();
});

describe('OutboxRelay recovery', () => {
  it('keeps rows unsent while Kafka refuses, tries again after growing waits, then sends each row once', async () => {
    const events = [event(1), event(2), event(3)];
    for (const e of events) await database.enqueue(e);
    kafka.refusals = 3;
    await startRelay({ pollIntervalMs: 100 });
    expect(kafka.attempts).toHaveLength(1);
    for (let refused = 1; refused <= 3; refused++) {
      expect(database.unsent()).toEqual(events.map((e) => e.id));
      expect(kafka.acked).toEqual([]);
      await vi.advanceTimersToNextTimerAsync();
      await settle();
      expect(kafka.attempts).toHaveLength(refused + 1);
    }
    expect(database.unsent()).toEqual([]);
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
    const waits = kafka.attempts.slice(1).map((at, i) => at - kafka.attempts[i]!);
    expect(waits[0]).toBeGreaterThan(100);
    expect(waits[1]).toBe(2 * waits[0]!);
    expect(waits[2]).toBe(2 * waits[1]!);
    // Later rounds find nothing to send: nothing goes out twice.
    await vi.advanceTimersByTimeAsync(10_000);
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
  });

  it('with a linger, commits that come close together leave in one send, after the linger', async () => {
    await startRelay({ pollIntervalMs: 3_600_000, lingerMs: 20 });
    const events = [event(1), event(2), event(3)];
    for (const e of events) {
      await database.enqueue(e);
      await settle();
      await vi.advanceTimersByTimeAsync(5);
    }
    expect(kafka.attempts).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5);
    await settle();
    expect(kafka.attempts).toHaveLength(1);
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
    expect(database.unsent()).toEqual([]);
  });

  it('with a linger, commits that keep coming while a round runs leave once per linger, each row once and in order', async () => {
    // Kafka answers between two commits (every 2 ms), so each round ends with a commit pending.
    kafka.delayMs = 9;
    await startRelay({ pollIntervalMs: 3_600_000, lingerMs: 20 });
    const events = Array.from({ length: 100 }, (_, i) => event(i));
    for (const e of events) {
      await database.enqueue(e);
      await settle();
      await vi.advanceTimersByTimeAsync(2);
    }
    await vi.advanceTimersByTimeAsync(100);
    await settle();
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
    expect(database.unsent()).toEqual([]);
    const gaps = kafka.attempts.slice(1).map((at, i) => at - kafka.attempts[i]!);
    expect(gaps.length).toBeGreaterThan(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(20);
  });

  it('a round asks PostgreSQL twice: its rows under the lock, then marking them; while another relay holds the lock it sends nothing', async () => {
    database.lockedElsewhere = true;
    const events = [event(1), event(2)];
    for (const e of events) await database.enqueue(e);
    database.transactions = [];
    await startRelay({ pollIntervalMs: 100 });
    expect(kafka.attempts).toHaveLength(0);
    expect(database.unsent()).toEqual(events.map((e) => e.id));
    // The other relay lets go: the next poll sends every row, once.
    database.lockedElsewhere = false;
    await vi.advanceTimersByTimeAsync(100);
    await settle();
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
    expect(database.unsent()).toEqual([]);
    const round = database.transactions.at(-1)!;
    expect(round).toHaveLength(2);
    expect(round[0]).toMatch(/^SELECT .* FROM outbox WHERE .*pg_try_advisory_xact_lock.* FOR UPDATE SKIP LOCKED$/);
    expect(round[1]).toMatch(/^UPDATE outbox SET published_at/);
  });

  it('after a successful round the next refusal waits the first back-off again', async () => {
    await database.enqueue(event(1));
    kafka.refusals = 3;
    await startRelay({ pollIntervalMs: 60_000 });
    for (let i = 0; i < 3; i++) await vi.advanceTimersToNextTimerAsync();
    await settle();
    expect(database.unsent()).toEqual([]);
    const first = kafka.attempts[1]! - kafka.attempts[0]!;

    kafka.refusals = 1;
    const later = event(2);
    await database.enqueue(later);
    await settle();
    expect(database.unsent()).toEqual([later.id]);
    const refusedAt = kafka.attempts.at(-1)!;
    await vi.advanceTimersToNextTimerAsync();
    await settle();
    expect(database.unsent()).toEqual([]);
    expect(kafka.attempts.at(-1)! - refusedAt).toBe(first);
  });

  it('deletes sent rows once they are older than the retention, and only those', async () => {
    const old = event(1);
    const recent = event(2);
    await startRelay({ pollIntervalMs: 10_000, retentionMs: 10 * 60_000 });
    await database.enqueue(old);
    await settle();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    await database.enqueue(recent);
    await settle();
    expect(database.unsent()).toEqual([]);
    await vi.advanceTimersByTimeAsync(5 * 60_000 + 70_000);
    await settle();
    expect(database.rows.map((row) => row.event.id)).toEqual([recent.id]);
    // At most one delete a minute, however often the relay polls.
    expect(database.deletes).toBeGreaterThan(5);
    expect(database.deletes).toBeLessThanOrEqual(12);
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    await settle();
    expect(database.rows).toEqual([]);
    expect(kafka.ids()).toEqual([old.id, recent.id]);
  });

  it('when the LISTEN connection drops, polling sends what was missed and a new connection brings notifications back', async () => {
    await startRelay({ pollIntervalMs: 3_600_000 });
    const [first] = database.open();
    expect(first?.listening).toBe(true);
    const a = event(1);
    await database.enqueue(a);
    await settle();
    expect(kafka.ids()).toEqual([a.id]);

    first!.drop();
    await settle();
    expect(first!.ended).toBe(true);
    expect(database.open()).toEqual([]);
    const b = event(2);
    await database.enqueue(b);
    await settle();
    expect(database.unsent()).toEqual([b.id]);

    await vi.advanceTimersByTimeAsync(3_600_000);
    await settle();
    expect(database.unsent()).toEqual([]);
    expect(database.open()).toHaveLength(1);
    expect(database.open()[0]!.listening).toBe(true);

    const c = event(3);
    await database.enqueue(c);
    await settle();
    expect(kafka.ids()).toEqual([a.id, b.id, c.id]);
  });

  it('polls while LISTEN cannot be had, closes each connection that refused it, and listens once it can', async () => {
    database.refuseConnects = 1;
    database.refuseListens = 2;
    await startRelay({ pollIntervalMs: 1_000 });
    for (let round = 0; round < 4; round++) {
      await vi.advanceTimersToNextTimerAsync();
      await settle();
    }
    expect(database.listeners).toHaveLength(3);
    expect(database.open()).toHaveLength(1);
    expect(database.open()[0]!.listening).toBe(true);
    const a = event(1);
    await database.enqueue(a);
    await settle();
    expect(kafka.ids()).toEqual([a.id]);
  });

  it('publishes again on the next start what Kafka acknowledged before the commit was lost; the consumer applies it once', async () => {
    const events = [event(1), event(2)];
    for (const e of events) await database.enqueue(e);
    database.failCommits = 1;
    const crashed = await startRelay();
    expect(kafka.ids()).toEqual(events.map((e) => e.id));
    expect(database.unsent()).toEqual(events.map((e) => e.id));
    // The process dies here: the relay never gets to its own retry.
    await crashed.stop();

    await startRelay();
    expect(database.unsent()).toEqual([]);
    expect(kafka.ids()).toEqual([...events, ...events].map((e) => e.id));

    // Downstream, each delivery is claimed in the handler's transaction before it applies anything.
    const applied: string[] = [];
    for (const message of kafka.acked) {
      await database.db.transaction(async (tx: Queryable) => {
        for (const id of await claimEvents(tx, 'billing', [message.id])) applied.push(id);
      });
    }
    expect(applied).toEqual(events.map((e) => e.id));
  });
});
