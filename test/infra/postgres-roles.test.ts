/**
 * Provisioning of the services' own PostgreSQL roles on the run's real server: a schema left by
 * an older msctl (owned by the superuser, with a table, a view, a function…) is handed over to
 * its role; running it again converges a changed password; a role can use its schema only; the
 * kit's migrations run as that role; names that cannot be a role are refused.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CircuitRegistry, Database, ServiceMetrics, createLogger } from '@msctl/kit';
import { checkRoleName, provisionDatabaseRoles } from '../../src/infra/postgres/roles';
import { createTestDatabase, uniqueName } from '../support/infra-env';

const serverUrl = inject('postgresUrl');
let databaseUrl: string;
const clients: pg.Client[] = [];

/** databaseUrl as `role` (the superuser without one). */
const urlAs = (role?: { name: string; password: string }) => {
  const url = new URL(databaseUrl);
  if (role) {
    url.username = role.name;
    url.password = role.password;
  }
  return url.href;
};

async function connect(role?: { name: string; password: string }): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlAs(role) });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return client;
}

/** The SQLSTATE a statement fails with (undefined when it succeeds). */
async function failureOf(client: pg.Client, sql: string): Promise<string | undefined> {
  try {
    await client.query(sql);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

const owned = async (superuser: pg.Client, schema: string) =>
  (
    await superuser.query<{ kind: string; name: string; owner: string }>(
      `SELECT 'schema' AS kind, nspname AS name, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1
       UNION ALL SELECT 'relation:' || c.relkind::text, c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
       UNION ALL SELECT 'function', p.proname, pg_get_userbyid(p.proowner) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
       UNION ALL SELECT 'type:' || t.typtype::text, t.typname, pg_get_userbyid(t.typowner) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = $1
       ORDER BY 1, 2`,
      [schema],
    )
  ).rows;

beforeAll(async () => {
  databaseUrl = await createTestDatabase(serverUrl, 'roles');
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
});

describe('provisionDatabaseRoles', () => {
  it('hands a schema an older msctl left to the superuser over to the service\'s role, objects and all', async () => {
    const role = { name: uniqueName('svc'), password: 'first-password-0123456789' };
    const superuser = await connect();
    const superuserName = new URL(databaseUrl).username;
    const s = superuser.escapeIdentifier(role.name);
    // What a service connected as the superuser created before roles existed.
    await superuser.query(`
      CREATE SCHEMA ${s};
      CREATE TYPE ${s}.mood AS ENUM ('ok', 'meh');
      CREATE DOMAIN ${s}.positive AS integer CHECK (VALUE > 0);
      CREATE TABLE ${s}.items (id bigserial PRIMARY KEY, n ${s}.positive, mood ${s}.mood, seq_no integer GENERATED ALWAYS AS IDENTITY);
      CREATE TABLE ${s}.schema_migrations (id text PRIMARY KEY);
      CREATE SEQUENCE ${s}.standalone;
      CREATE VIEW ${s}.item_count AS SELECT count(*) AS n FROM ${s}.items;
      CREATE MATERIALIZED VIEW ${s}.item_snapshot AS SELECT id FROM ${s}.items;
      CREATE FUNCTION ${s}.twice(integer) RETURNS integer LANGUAGE sql AS 'SELECT $1 * 2';
      CREATE PROCEDURE ${s}.touch() LANGUAGE sql AS 'SELECT 1';
      INSERT INTO ${s}.items (n, mood) VALUES (1, 'ok');
    `);
    expect((await owned(superuser, role.name)).every((object) => object.owner === superuserName)).toBe(true);

    await provisionDatabaseRoles(urlAs(), [role]);

    const objects = await owned(superuser, role.name);
    expect(objects.filter((object) => object.owner !== role.name)).toEqual([]);
    expect(objects.map((object) => object.name)).toEqual(
      expect.arrayContaining([role.name, 'items', 'items_id_seq', 'items_seq_no_seq', 'schema_migrations', 'standalone', 'item_count', 'item_snapshot', 'twice', 'touch', 'mood', 'positive']),
    );

    const own = await connect(role);
    const attributes = await own.query('SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user');
    expect(attributes.rows[0]).toEqual({ rolsuper: false, rolcreatedb: false, rolcreaterole: false, rolreplication: false, rolbypassrls: false });
    // Its data and its schema are its own: it reads, writes, and creates in it.
    await own.query(`SET search_path = ${s}`);
    await own.query(`INSERT INTO items (n, mood) VALUES (2, 'meh')`);
    expect((await own.query('SELECT n FROM item_count')).rows[0].n).toBe('2');
    expect((await own.query('SELECT twice(21) AS v')).rows[0].v).toBe(42);
    await own.query('REFRESH MATERIALIZED VIEW item_snapshot');
    await own.query('CREATE TABLE later (id int)');
    await own.query('DROP TABLE later');
    // Nothing beyond it.
    expect(await failureOf(own, 'CREATE ROLE intruder')).toBe('42501');
    expect(await failureOf(own, `CREATE DATABASE ${own.escapeIdentifier(uniqueName('intruder'))}`)).toBe('42501');
    expect(await failureOf(own, 'CREATE SCHEMA elsewhere')).toBe('42501');
    expect(await failureOf(own, 'CREATE TABLE public.squatter (id int)')).toBe('42501');
  });

  it('converges: a second run changes nothing but a new password, and roles cannot see each other\'s schemas', async () => {
    const a = { name: uniqueName('svc_a'), password: 'password-a-0123456789' };
    const b = { name: uniqueName('svc_b'), password: 'password-b-0123456789' };
    await provisionDatabaseRoles(urlAs(), [a, b]);
    const ownA = await connect(a);
    await ownA.query(`CREATE TABLE ${ownA.escapeIdentifier(a.name)}.secrets (v text)`);
    await ownA.query(`INSERT INTO ${ownA.escapeIdentifier(a.name)}.secrets VALUES ('mine')`);

    const ownB = await connect(b);
    const denied = await ownB.query(`SELECT * FROM ${ownB.escapeIdentifier(a.name)}.secrets`).then(
      () => undefined,
      (error: Error & { code?: string }) => error,
    );
    expect(denied?.code).toBe('42501');
    expect(denied?.message).toMatch(/permission denied for schema/);

    const rotated = { ...a, password: 'password-a-rotated-0123' };
    await provisionDatabaseRoles(urlAs(), [rotated, b]);
    await expect(connect(a)).rejects.toThrow(/password authentication failed/);
    const again = await connect(rotated);
    expect((await again.query(`SELECT v FROM ${again.escapeIdentifier(a.name)}.secrets`)).rows).toEqual([{ v: 'mine' }]);
  });

  it('refuses a name that cannot be a role, and a role that administers the server', async () => {
    for (const name of ['pg_stats', 'public', 'Users', 'data-processing', '1st', 'x'.repeat(64), 'a"b']) {
      expect(() => checkRoleName(name), name).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
    expect(() => checkRoleName('data_processing')).not.toThrow();
    const superuserName = new URL(databaseUrl).username;
    await expect(provisionDatabaseRoles(urlAs(), [{ name: superuserName, password: 'whatever-0123456789' }])).rejects.toMatchObject({ code: 'USAGE' });
    // The superuser is left as it was.
    const superuser = await connect();
    expect((await superuser.query('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [superuserName])).rows[0].rolsuper).toBe(true);
  });
});

describe('the kit\'s migrations as a service\'s own role', () => {
  it('run in the schema the role owns, though the role may not create a schema', async () => {
    const role = { name: uniqueName('svc_kit'), password: 'password-kit-0123456789' };
    await provisionDatabaseRoles(urlAs(), [role]);
    const own = await connect(role);
    // Why the kit looks before it creates: PostgreSQL checks the privilege before IF NOT EXISTS.
    expect(await failureOf(own, `CREATE SCHEMA IF NOT EXISTS ${own.escapeIdentifier(role.name)}`)).toBe('42501');

    const circuits = new CircuitRegistry({ timeoutMs: 5_000, resetMs: 1_000, errorThresholdPercent: 50, volumeThreshold: 5 }, new ServiceMetrics('roles-test'));
    const db = new Database({ url: urlAs(role), schema: role.name, poolSize: 2, circuit: circuits.get('postgres'), logger: createLogger('roles-test', 'silent') });
    try {
      const migrations = [{ id: '001_items', sql: 'CREATE TABLE items (id int PRIMARY KEY)' }];
      expect(await db.migrate(migrations)).toEqual(['001_items']);
      expect(await db.migrate(migrations)).toEqual([]);
      await db.query('INSERT INTO items VALUES (1)');
      // LISTEN/NOTIFY, which the outbox relay uses, needs no privilege of its own.
      const listener = await db.connectDedicated();
      try {
        const heard = new Promise<string | undefined>((resolve) => listener.once('notification', (message) => resolve(message.payload)));
        await listener.query('LISTEN outbox');
        await db.query(`SELECT pg_notify('outbox', 'hello')`);
        expect(await heard).toBe('hello');
      } finally {
        await listener.end();
      }
    } finally {
      await db.close();
    }
  });
});
