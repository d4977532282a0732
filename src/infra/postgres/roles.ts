/**
 * Least privilege in PostgreSQL: every service connects as its own LOGIN role, named like its
 * schema, which owns that schema and nothing else — no SUPERUSER, CREATEDB, CREATEROLE, no rights
 * on another service's schema. msctl provisions the roles as the superuser after PostgreSQL is up
 * and before any service starts, on every `up`, so that:
 * - a service added later gets its role on the next `up`;
 * - a changed password (a new role seed) converges, as do the role's attributes;
 * - a stack created by an older msctl, whose schemas and tables the superuser owns, is handed
 *   over to the roles (schema, tables, sequences, views, functions, types).
 */
import pg from 'pg';
import { MsctlError } from '../../core/errors';
import { sleep } from '../../core/sleep';

export interface DatabaseRole {
  /** The role's name, and the name of the schema it owns. */
  name: string;
  password: string;
}

/**
 * Role and schema names come from service names: only plain lowercase identifiers, and none
 * PostgreSQL keeps for itself (pg_*, public, information_schema).
 */
export function checkRoleName(name: string): void {
  const reason = !/^[a-z_][a-z0-9_]*$/.test(name)
    ? 'only lowercase letters, digits and underscores, not starting with a digit'
    : Buffer.byteLength(name) > 63
      ? 'longer than PostgreSQL\'s 63-byte identifiers'
      : name.startsWith('pg_') || name === 'public' || name === 'information_schema'
        ? 'a name PostgreSQL reserves'
        : undefined;
  if (reason) {
    throw new MsctlError('USAGE', `"${name}" cannot be a PostgreSQL role and schema: ${reason}`, 'rename the service (its folder and the "name" in its service.json)');
  }
}

/** Attributes set at creation and again on every run, so a role changed by hand converges. */
const ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

/** Serialises two msctl processes provisioning the same server. */
const LOCK_KEY = 'msctl-database-roles';

/**
 * Objects in the schema the role does not own yet, with the statement that hands each over.
 * Tables first: a table's identity and serial sequences, indexes and row type follow it (and
 * altering such a sequence alone is refused), so sequences are listed only after tables moved.
 */
const NOT_OWNED_RELATIONS = `
  SELECT c.relkind, format('%I.%I', n.nspname, c.relname) AS name
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = $1 AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
     AND c.relkind = ANY($2::"char"[])
   ORDER BY c.relname`;
const RELATION_COMMAND: Record<string, string> = { r: 'TABLE', p: 'TABLE', f: 'FOREIGN TABLE', v: 'VIEW', m: 'MATERIALIZED VIEW', S: 'SEQUENCE' };

const NOT_OWNED_ROUTINES = `
  SELECT p.prokind, p.oid::regprocedure::text AS signature
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = $1 AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
   ORDER BY 2`;
const ROUTINE_COMMAND: Record<string, string> = { f: 'FUNCTION', w: 'FUNCTION', p: 'PROCEDURE', a: 'AGGREGATE' };

/** Enums, ranges, domains and standalone composite types: a table's row type and arrays follow their owner. */
const NOT_OWNED_TYPES = `
  SELECT t.typtype, format('%I.%I', n.nspname, t.typname) AS name
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    LEFT JOIN pg_class c ON c.oid = t.typrelid
   WHERE n.nspname = $1 AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)
     AND (t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND c.relkind = 'c'))
   ORDER BY 2`;

async function handOver(client: pg.Client, role: string): Promise<void> {
  const to = client.escapeIdentifier(role);
  for (const kinds of [['r', 'p', 'f', 'm'], ['v'], ['S']]) {
    const { rows } = await client.query<{ relkind: string; name: string }>(NOT_OWNED_RELATIONS, [role, kinds]);
    for (const row of rows) await client.query(`ALTER ${RELATION_COMMAND[row.relkind]} ${row.name} OWNER TO ${to}`);
  }
  for (const row of (await client.query<{ prokind: string; signature: string }>(NOT_OWNED_ROUTINES, [role])).rows) {
    await client.query(`ALTER ${ROUTINE_COMMAND[row.prokind] ?? 'ROUTINE'} ${row.signature} OWNER TO ${to}`);
  }
  for (const row of (await client.query<{ typtype: string; name: string }>(NOT_OWNED_TYPES, [role])).rows) {
    await client.query(`ALTER ${row.typtype === 'd' ? 'DOMAIN' : 'TYPE'} ${row.name} OWNER TO ${to}`);
  }
}

async function provisionRole(client: pg.Client, role: DatabaseRole): Promise<void> {
  const name = client.escapeIdentifier(role.name);
  // A role that can do more than a service's (the superuser itself, say, for a service named
  // like it) is not ours to demote.
  const existing = await client.query<{ rolsuper: boolean; rolcreaterole: boolean }>('SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1', [role.name]);
  const found = existing.rows[0];
  if (found && (found.rolsuper || found.rolcreaterole)) {
    throw new MsctlError(
      'USAGE',
      `the PostgreSQL role "${role.name}" exists and administers the server: it cannot be a service's role`,
      'rename the service, or the stack\'s PostgreSQL user (MSCTL_POSTGRES_USER)',
    );
  }
  if (!found) await client.query(`CREATE ROLE ${name} ${ATTRIBUTES}`);
  // Utility statements take no parameters: the password goes in as a quoted literal.
  await client.query(`ALTER ROLE ${name} ${ATTRIBUTES} PASSWORD ${client.escapeLiteral(role.password)}`);
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${name} AUTHORIZATION ${name}`);
  await client.query(`ALTER SCHEMA ${name} OWNER TO ${name}`);
  await client.query(`REVOKE ALL ON SCHEMA ${name} FROM PUBLIC`);
  await handOver(client, role.name);
}

/**
 * Creates or converges every role in `roles` on the server `superuserUrl` points at, in one
 * transaction. Idempotent; safe to run while services are up.
 */
export async function provisionDatabaseRoles(superuserUrl: string, roles: DatabaseRole[]): Promise<void> {
  for (const role of roles) checkRoleName(role.name);
  if (roles.length === 0) return;
  let client: pg.Client | undefined;
  try {
    client = await connect(superuserUrl);
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [LOCK_KEY]);
    // Handing a table over waits for its running transactions: fail with a reason, not hang.
    await client.query(`SET LOCAL lock_timeout = '15s'`);
    // PostgreSQL before 15 lets every role create objects in public: services get only their schema.
    await client.query('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    for (const role of roles) await provisionRole(client, role);
    await client.query('COMMIT');
  } catch (error) {
    await client?.query('ROLLBACK').catch(() => undefined);
    if (error instanceof MsctlError) throw error;
    throw new MsctlError(
      'POSTGRES_START_FAILED',
      `cannot provision the services' PostgreSQL roles (${roles.map((role) => role.name).join(', ')}): ${(error as Error).message}`,
      'msctl does this as the stack\'s PostgreSQL superuser after PostgreSQL starts; see `msctl logs postgres`',
      { cause: error },
    );
  } finally {
    await client?.end().catch(() => undefined);
  }
}

/** SQLSTATEs of a server still starting or shutting down; a container just reported healthy can be either for a moment. */
const NOT_READY = new Set(['57P01', '57P03']);

/**
 * Connects, waiting a little while the server cannot take connections yet: through Docker's
 * published port a healthy container may still reset the first connections.
 */
async function connect(url: string, waitMs = 15_000): Promise<pg.Client> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      const code = (error as { code?: string }).code ?? '';
      const transient = NOT_READY.has(code) || ['ECONNREFUSED', 'ECONNRESET'].includes(code) || /Connection terminated/i.test((error as Error).message);
      if (!transient || Date.now() > deadline) throw error;
      await sleep(250);
    }
  }
}
