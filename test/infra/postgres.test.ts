import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from '../support/infra-env';

describe('the run\'s PostgreSQL server', () => {
  const url = inject('postgresUrl');

  it('accepts a query on 127.0.0.1 with password auth', async () => {
    expect(url).toMatch(/^postgres:\/\/[^:]+:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ version: string; listen: string }>(
      "SELECT version() AS version, current_setting('listen_addresses') AS listen",
    );
    await client.end();
    expect(rows[0]?.version).toMatch(/^PostgreSQL 18/);
    expect(rows[0]?.listen).toBe('127.0.0.1');
  });

  it('rejects a wrong password', async () => {
    const wrong = new URL(url);
    wrong.password = 'not-the-password';
    const client = new pg.Client({ connectionString: wrong.toString() });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('creates a fresh database that works', async () => {
    const dbUrl = await createTestDatabase(url, 'infra');
    expect(dbUrl).not.toBe(url);
    const client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    await client.query('CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL)');
    await client.query("INSERT INTO t (name) VALUES ('a'), ('b')");
    const { rows } = await client.query<{ n: string; db: string }>('SELECT count(*) AS n, current_database() AS db FROM t');
    await client.end();
    expect(rows[0]?.n).toBe('2');
    expect(dbUrl.endsWith(`/${rows[0]?.db}`)).toBe(true);
  });
});
