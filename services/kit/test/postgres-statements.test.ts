/**
 * A service's parameterised statements run as named prepared statements: each connection
 * parses and plans a text once. Texts beyond the first 256 run unnamed, so that no connection
 * collects statements without bound.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { createLogger } from '../src/logger';
import { ServiceMetrics } from '../src/metrics';
import { Database } from '../src/postgres';
import { uniqueSuffix } from '../src/testing';

const metrics = new ServiceMetrics('statements-test');
const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, metrics);
// One connection, so that every query below meets the statements the others prepared.
const db = new Database({ url: inject('postgresUrl'), schema: `stmt_${uniqueSuffix()}`, poolSize: 1, circuit: circuits.get('postgres'), logger: createLogger('statements-test', 'silent') });

afterAll(async () => {
  await db.close();
  circuits.shutdown();
});

const prepared = async () =>
  (await db.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements')).rows.map((row) => row.statement);

describe('prepared statements', () => {
  it('prepares a parameterised text once and runs it again by name, with the right answers', async () => {
    const text = 'SELECT $1::int + 1 AS n';
    expect((await db.query<{ n: number }>(text, [1])).rows[0]!.n).toBe(2);
    expect((await db.query<{ n: number }>(text, [41])).rows[0]!.n).toBe(42);
    expect((await prepared()).filter((statement) => statement === text)).toHaveLength(1);
    // Without values a text is not prepared.
    expect(await prepared()).not.toContain('SELECT statement FROM pg_prepared_statements');
  });

  it('names no more than 256 texts in all', async () => {
    for (let i = 0; i < 300; i++) expect((await db.query<{ n: number }>(`SELECT $1::int AS n /* ${i} */`, [i])).rows[0]!.n).toBe(i);
    expect((await prepared()).length).toBeLessThanOrEqual(256);
  });
});
