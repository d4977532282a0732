/**
 * Least privilege in PostgreSQL on a real stack (`msctl up`, local runtime): every service that
 * needs PostgreSQL connects as its own role — the DATABASE_URL its process was started with —
 * which is no superuser, owns its schema and everything in it, sees no other service's schema,
 * and can create neither roles nor databases; and the stack still works end to end (sign-up
 * through the gateway, the welcome notification caused by user.created).
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { stackForThisFile } from '../support/running-stack';

const stack = stackForThisFile();
const SERVICES = ['users', 'notifications', 'analytics'] as const;
type Service = (typeof SERVICES)[number];
const clients: pg.Client[] = [];

afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
});

/** What the running process of `service` was started with, read from /proc: what it really uses. */
async function environmentOf(service: Service): Promise<Record<string, string>> {
  const pid = (await stack.status()).targets.find((target) => target.name === service)?.pid;
  expect(pid, `${service} runs`).toBeTypeOf('number');
  const entries = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean);
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

async function connectAs(service: Service): Promise<{ client: pg.Client; role: string; schema: string }> {
  const env = await environmentOf(service);
  const client = new pg.Client({ connectionString: env.DATABASE_URL });
  client.on('error', () => undefined);
  await client.connect();
  clients.push(client);
  return { client, role: decodeURIComponent(new URL(env.DATABASE_URL!).username), schema: env.DATABASE_SCHEMA! };
}

async function refusal(client: pg.Client, sql: string): Promise<{ code?: string; message: string } | undefined> {
  try {
    await client.query(sql);
    return undefined;
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
}

describe('each service connects to PostgreSQL as its own role', () => {
  it('is not the superuser, and can create neither roles nor databases', async () => {
    const [{ superuser } = { superuser: '' }] = await stack.query<{ superuser: string }>('SELECT current_user AS superuser');
    expect(superuser).not.toBe('');
    for (const service of SERVICES) {
      const { client, role, schema } = await connectAs(service);
      expect(role, service).toBe(schema);
      expect(role, service).not.toBe(superuser);
      const [attributes] = (await client.query('SELECT current_user AS name, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user')).rows;
      expect(attributes, service).toEqual({ name: role, rolsuper: false, rolcreatedb: false, rolcreaterole: false });
      expect((await refusal(client, `CREATE ROLE intruder_${uniqueSuffix()}`))?.code, `${service}: CREATE ROLE`).toBe('42501');
      expect((await refusal(client, `CREATE DATABASE intruder_${uniqueSuffix()}`))?.code, `${service}: CREATE DATABASE`).toBe('42501');
      expect((await refusal(client, 'CREATE TABLE public.squatter (id int)'))?.code, `${service}: CREATE in public`).toBe('42501');
    }
  });

  it('owns its schema and every table in it', async () => {
    for (const service of SERVICES) {
      const { role, schema } = await connectAs(service);
      const objects = await stack.query<{ name: string; owner: string }>(
        `SELECT nspname AS name, pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1
         UNION ALL SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
        [schema],
      );
      expect(objects.map((object) => object.name), service).toEqual(expect.arrayContaining([schema, 'schema_migrations']));
      expect(objects.filter((object) => object.owner !== role), service).toEqual([]);
    }
  });

  it('cannot read another service\'s tables', async () => {
    const { client: notifications } = await connectAs('notifications');
    const denied = await refusal(notifications, 'SELECT * FROM users.users');
    expect(denied?.code).toBe('42501');
    expect(denied?.message).toMatch(/permission denied for schema users/);
    const { client: users } = await connectAs('users');
    expect((await refusal(users, 'SELECT * FROM notifications.notifications'))?.code).toBe('42501');
    expect((await refusal(users, 'SELECT * FROM analytics.event_counts'))?.code).toBe('42501');
    const { client: analytics } = await connectAs('analytics');
    expect((await refusal(analytics, 'INSERT INTO notifications.notifications (kind) VALUES (\'x\')'))?.code).toBe('42501');
  });

  it('still signs a user up through the gateway, and the welcome notification arrives', async () => {
    const username = `roles_${uniqueSuffix()}`;
    const { id, token } = await stack.login(username);
    const welcome = await eventually(async () => {
      const response = await fetch(`${stack.gateway()}/api/notifications`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
      if (response.status !== 200) return undefined;
      const { notifications } = (await response.json()) as { notifications?: Array<{ kind: string }> };
      return notifications?.find((notification) => notification.kind === 'welcome');
    }, 60_000, 'the welcome notification');
    expect(welcome).toBeDefined();
    // Stored by notifications as its own role, in its own schema.
    const rows = await stack.query<{ kind: string }>('SELECT kind FROM notifications.notifications WHERE user_id::text = $1', [id]);
    expect(rows.map((row) => row.kind)).toContain('welcome');
  });
});
