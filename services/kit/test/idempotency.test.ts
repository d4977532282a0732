/**
 * processed_events is kept only as long as Kafka can deliver a record again: ids older than the
 * window go, newer ones stay, and a claimed id is still refused inside the window. The clock is
 * injected; nothing waits for time to pass.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { IdempotencyJanitor, PROCESSED_EVENTS_EXPIRY_MIGRATION, PROCESSED_EVENTS_MIGRATION, claimEvents, expireProcessedEvents, idempotencyWindowMs } from '../src/idempotency';
import { createLogger } from '../src/logger';
import { Database } from '../src/postgres';
import { uniqueSuffix } from '../src/testing';

const logger = createLogger('idempotency-test', 'silent');
const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 });
const db = new Database({ url: inject('postgresUrl'), schema: `idem_${uniqueSuffix()}`, poolSize: 4, circuit: circuits.get('postgres'), logger });
const DAY = 86_400_000;
const now = Date.parse('2026-12-01T12:00:00Z');

/** Claims `ids` as if at `at`. */
async function claimAt(ids: string[], at: number): Promise<void> {
  await db.transaction(async (tx) => {
    await claimEvents(tx, 'c', ids);
    await tx.query('UPDATE processed_events SET processed_at = $1 WHERE event_id = ANY($2::text[])', [new Date(at), ids]);
  });
}

const remaining = async () => (await db.query<{ event_id: string }>('SELECT event_id FROM processed_events ORDER BY event_id')).rows.map((r) => r.event_id);

beforeAll(async () => {
  await db.migrate([PROCESSED_EVENTS_MIGRATION, PROCESSED_EVENTS_EXPIRY_MIGRATION]);
});

afterAll(async () => {
  await db.close();
  circuits.shutdown();
});

describe('processed_events expiry', () => {
  it('keeps ids for the longest retention of the consumed topics plus a margin, unless set', () => {
    expect(idempotencyWindowMs(7 * DAY, DAY)).toBe(8 * DAY);
    expect(idempotencyWindowMs(Number.POSITIVE_INFINITY, DAY)).toBeUndefined();
    expect(idempotencyWindowMs(7 * DAY, DAY, 2 * DAY)).toBe(2 * DAY);
  });

  it('forgets ids claimed before the window and keeps the newer ones, in batches', async () => {
    const old = Array.from({ length: 25 }, (_, i) => `old-${String(i).padStart(2, '0')}`);
    const recent = ['new-1', 'new-2'];
    await claimAt(old, now - 9 * DAY);
    await claimAt(recent, now - 2 * DAY);
    await expect(expireProcessedEvents(db, { olderThan: new Date(now - 8 * DAY), batchSize: 10 })).resolves.toBe(25);
    expect(await remaining()).toEqual(recent);
  });

  it('the janitor uses its window and its clock; a claimed id inside the window is still refused', async () => {
    await db.query('DELETE FROM processed_events');
    await claimAt(['a'], now - 8 * DAY - 1);
    await claimAt(['b'], now - 8 * DAY + 60_000);
    const janitor = new IdempotencyJanitor({ db, logger, windowMs: 8 * DAY, now: () => now });
    await expect(janitor.runOnce()).resolves.toBe(1);
    expect(await remaining()).toEqual(['b']);
    const fresh = await db.transaction((tx) => claimEvents(tx, 'c', ['a', 'b']));
    expect([...fresh]).toEqual(['a']);
    await janitor.stop();
  });

  it('keeps every id when the topics keep their records for ever (no window)', async () => {
    await db.query('DELETE FROM processed_events');
    await claimAt(['ancient'], now - 3650 * DAY);
    const janitor = new IdempotencyJanitor({ db, logger, windowMs: undefined, now: () => now });
    await expect(janitor.runOnce()).resolves.toBe(0);
    expect(await remaining()).toEqual(['ancient']);
  });

  it('lets one instance expire at a time: a second one skips the round while the first holds the lock', async () => {
    await db.query('DELETE FROM processed_events');
    await claimAt(['x', 'y'], now - 30 * DAY);
    const deleted = await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext('msctl-processed-events-expiry:' || current_schema()))`);
      return expireProcessedEvents(db, { olderThan: new Date(now) });
    });
    expect(deleted).toBe(0);
    expect(await remaining()).toEqual(['x', 'y']);
    await expect(expireProcessedEvents(db, { olderThan: new Date(now) })).resolves.toBe(2);
  });
});
