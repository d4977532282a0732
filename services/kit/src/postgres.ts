import { createHash } from 'node:crypto';
import pg from 'pg';
import { ZodError } from 'zod';
import type { Circuit } from './circuit-breaker';
import { HttpError } from './http-errors';
import type { Logger } from './logger';
import { inSpan, traceQuery, tracedClient, SpanKind } from './tracing';
import { compareNames } from './order';

export interface Migration {
  /** Ordered by id: "001_users", "002_outbox"… */
  id: string;
  sql: string;
}

export interface Queryable {
  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>>;
}

/** PostgreSQL error codes that mean "your data", not "the database is unwell": they never trip the breaker. */
const DATA_ERROR_CLASSES = ['22', '23', '40', '42'];

export function isDatabaseFailure(error: unknown): boolean {
  // A transaction's own refusal (e.g. notFound thrown inside db.transaction) says nothing about PostgreSQL.
  if (error instanceof HttpError || error instanceof ZodError) return false;
  const code = (error as { code?: unknown }).code;
  return !(typeof code === 'string' && code.length === 5 && DATA_ERROR_CLASSES.includes(code.slice(0, 2)));
}

export interface DatabaseOptions {
  url: string;
  /** Every table of the service lives in this schema; it is created if missing (which needs CREATE on the database). */
  schema: string;
  poolSize: number;
  circuit: Circuit;
  logger: Logger;
  statementTimeoutMs?: number;
}

/**
 * A pool whose every query and transaction passes through the "postgres" circuit breaker,
 * with the service's schema first on the search path.
 */
const statementNames = new Map<string, string | undefined>();
const MAX_NAMED_STATEMENTS = 256;

/**
 * A parameterised statement runs as a named prepared statement: each connection parses and
 * plans it once, not on every call (node-pg remembers which connection prepared which name).
 * The first 256 distinct texts are named; any further one runs unnamed, so a caller building
 * ever new texts cannot grow every connection's statements without bound.
 */
function statementName(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && !statementNames.has(text)) {
    name = statementNames.size < MAX_NAMED_STATEMENTS ? `msctl_${createHash('sha1').update(text).digest('hex').slice(0, 20)}` : undefined;
    if (name !== undefined) statementNames.set(text, name);
  }
  return name;
}

export class Database implements Queryable {
  readonly pool: pg.Pool;

  constructor(
    private readonly options: DatabaseOptions,
    sharedPool?: pg.Pool,
  ) {
    if (sharedPool) {
      this.pool = sharedPool;
      return;
    }
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize,
      connectionTimeoutMillis: 2_000,
      idleTimeoutMillis: 30_000,
      options: `-c search_path=${options.schema},public -c statement_timeout=${options.statementTimeoutMs ?? 5_000}`,
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    this.pool.on('error', (error) => options.logger.warn({ err: error }, 'idle PostgreSQL connection lost'));
  }

  /**
   * The same pool behind another breaker: background work (the outbox relay's polling) keeps
   * its own statistics, so its steady successes cannot hide failing requests from theirs.
   */
  withCircuit(circuit: Circuit): Database {
    return new Database({ ...this.options, circuit }, this.pool);
  }

  /** Refuses at once (CircuitOpenError) while the breaker is open; see Circuit.rejectWhileOpen. */
  rejectWhileOpen(): Promise<void> {
    return this.options.circuit.rejectWhileOpen();
  }

  get schema(): string {
    return this.options.schema;
  }

  query<Row extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
    const name = values === undefined ? undefined : statementName(text);
    const config: pg.QueryConfig = name === undefined ? { text, values } : { name, text, values };
    return traceQuery(this.options.schema, text, () => this.options.circuit.run(() => this.pool.query<Row>(config)));
  }

  /** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
    const attributes = { 'db.system.name': 'postgresql', 'db.namespace': this.options.schema };
    return inSpan('transaction', { kind: SpanKind.CLIENT, attributes }, () => this.options.circuit.run(async () => {
      const client = await this.checkout();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await work(tracedClient(client, this.options.schema));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        // A connection that failed for a reason other than the data is not given back to the pool.
        if (isDatabaseFailure(error)) broken = error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        client.release(broken);
      }
    }));
  }

  /**
   * A pooled client for several statements. pg emits 'error' on a checked-out client whose
   * server goes away between statements; unhandled, that would crash the process. The
   * statement in progress (or the next one) reports the failure instead.
   */
  private async checkout(): Promise<pg.PoolClient> {
    const client = await this.pool.connect();
    const ignore = () => undefined;
    client.on('error', ignore);
    const release = client.release.bind(client);
    client.release = (destroy?: boolean | Error) => {
      client.removeListener('error', ignore);
      release(destroy);
    };
    return client;
  }

  /** A dedicated connection outside the pool (LISTEN needs one that stays open). */
  async connectDedicated(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.options.url,
      connectionTimeoutMillis: 2_000,
      options: `-c search_path=${this.options.schema},public`,
    });
    client.on('error', (error) => this.options.logger.warn({ err: error }, 'dedicated PostgreSQL connection lost'));
    await client.connect();
    return client;
  }

  /** Creates the schema and applies the migrations not applied yet, each in its own transaction, one instance at a time. */
  async migrate(migrations: Migration[]): Promise<string[]> {
    const client = await this.checkout();
    const applied: string[] = [];
    try {
      await client.query(`SELECT pg_advisory_lock(hashtext($1))`, [`msctl-migrate:${this.options.schema}`]);
      // PostgreSQL checks CREATE on the database before IF NOT EXISTS, so a service's own role
      // (which owns its schema, provisioned by msctl, and may not create one) only asks when it is missing.
      const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.options.schema]);
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(this.options.schema)}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const done = new Set((await client.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id));
      for (const migration of [...migrations].sort((a, b) => compareNames(a.id, b.id))) {
        if (done.has(migration.id)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (id) VALUES ($1)', [migration.id]);
          await client.query('COMMIT');
          applied.push(migration.id);
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(`migration ${migration.id} failed: ${(error as Error).message}`, { cause: error });
        }
      }
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`msctl-migrate:${this.options.schema}`]).catch(() => undefined);
      client.release();
    }
    return applied;
  }

  async probe(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
