import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import type { z } from 'zod';
import {
  AUTH_SUBJECT_HEADER,
  baseConfigSchema,
  badRequest,
  conflict,
  createCloudEvent,
  enqueueEvent,
  forbidden,
  jwtConfigSchema,
  kafkaConfigSchema,
  notFound,
  postgresConfigSchema,
  requireDb,
  signAccessToken,
  unauthorized,
  type Queryable,
  type ServiceDefinition,
} from '@msctl/kit';
import sql001 from './migrations/001_init.sql?raw';
import { hashPassword, verifyPassword } from './password';
import { signUpSchema, tokenRequestSchema, updateSchema, userIdSchema } from './schemas';

export const usersConfigSchema = baseConfigSchema.extend({
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...jwtConfigSchema.shape,
});

export type UsersConfig = z.infer<typeof usersConfigSchema>;

export const USERS_TOPIC = 'users.events';
const EVENT_SOURCE = '/users';

interface UserRow {
  id: string;
  username: string;
  email: string;
  display_name: string | null;
  password_hash: string;
  created_at: Date;
  updated_at: Date;
  version: number;
}

export interface PublicUser {
  id: string;
  username: string;
  email?: string;
  displayName: string | null;
  createdAt: string;
  updatedAt: string;
  version: number;
}

const USER_COLUMNS = 'id, username, email, display_name, password_hash, created_at, updated_at, version';

/** The user as the API shows it: never the password hash; the email only to its owner (or an internal caller). */
function toPublic(row: UserRow, includeEmail = true): PublicUser {
  const user: PublicUser = {
    id: row.id,
    username: row.username,
    displayName: row.display_name,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    version: row.version,
  };
  if (includeEmail) user.email = row.email;
  return user;
}

/** What user.created / user.updated carry: never the hash. */
const eventData = (row: UserRow) => ({ id: row.id, username: row.username, email: row.email, displayName: row.display_name });

/** Maps a unique violation to 409 naming the field; rethrows anything else. */
function asConflict(error: unknown): never {
  const { code, constraint } = error as { code?: string; constraint?: string };
  if (code === '23505') {
    const field = constraint?.includes('email') ? 'email' : constraint?.includes('username') ? 'username' : undefined;
    if (field) throw conflict(`this ${field} is already taken`, { field });
    throw conflict('the user conflicts with an existing one');
  }
  throw error;
}

/** The authenticated caller set by the gateway; undefined for a direct internal call. */
function authSubject(request: FastifyRequest): string | undefined {
  const value = request.headers[AUTH_SUBJECT_HEADER];
  const subject = Array.isArray(value) ? value[0] : value;
  return subject === undefined || subject === '' ? undefined : subject;
}

/** A path id that is not a uuid names no user: 404, never a database error. */
function parseId(id: string): string {
  const result = userIdSchema.safeParse(id);
  if (!result.success) throw notFound('no such user');
  return result.data.toLowerCase();
}

/** Only the user themself may change or delete their account; internal calls (no header) may. */
function assertOwner(request: FastifyRequest, id: string): void {
  const subject = authSubject(request);
  if (subject !== undefined && subject.toLowerCase() !== id) throw forbidden('you can only change your own account');
}

async function findById(db: Queryable, id: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
  return rows[0];
}

export const usersService: ServiceDefinition<UsersConfig> = {
  name: 'users',
  config: usersConfigSchema,
  postgres: { migrations: [{ id: '001_init', sql: sql001 }], outbox: true },
  kafka: { topics: [USERS_TOPIC] },

  async setup(context) {
    const db = requireDb(context);
    const { app, config } = context;
    const topic = context.topic(USERS_TOPIC);
    // Compared against when the username is unknown, so that a miss costs as much as a wrong password.
    const dummyHash = await hashPassword(`dummy-${Math.random()}`);

    const publish = (tx: pg.PoolClient, type: string, subject: string, data: unknown) =>
      enqueueEvent(tx, topic, createCloudEvent({ type, source: EVENT_SOURCE, subject, data }));

    app.post('/users', async (request, reply) => {
      const input = signUpSchema.parse(request.body);
      // scrypt costs ~50 ms of CPU: during an outage, refuse before paying for it.
      await db.rejectWhileOpen();
      const passwordHash = await hashPassword(input.password);
      const row = await db
        .transaction(async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `INSERT INTO users (username, email, display_name, password_hash)
             VALUES ($1, $2, $3, $4) RETURNING ${USER_COLUMNS}`,
            [input.username, input.email, input.displayName ?? null, passwordHash],
          );
          const created = rows[0]!;
          await publish(tx, 'user.created', created.id, eventData(created));
          return created;
        })
        .catch(asConflict);
      return reply.status(201).header('location', `/users/${row.id}`).send(toPublic(row));
    });

    app.get('/users/me', async (request) => {
      const subject = authSubject(request);
      if (subject === undefined) throw unauthorized();
      const row = userIdSchema.safeParse(subject).success ? await findById(db, subject.toLowerCase()) : undefined;
      if (!row) throw notFound('no such user');
      return toPublic(row);
    });

    app.get<{ Params: { id: string } }>('/users/:id', async (request) => {
      const id = parseId(request.params.id);
      const row = await findById(db, id);
      if (!row) throw notFound('no such user');
      const subject = authSubject(request);
      return toPublic(row, subject === undefined || subject.toLowerCase() === id);
    });

    app.patch<{ Params: { id: string } }>('/users/:id', async (request) => {
      const id = parseId(request.params.id);
      assertOwner(request, id);
      const changes = updateSchema.parse(request.body ?? {});
      const sets: string[] = [];
      const values: unknown[] = [id];
      const set = (column: string, value: unknown) => {
        values.push(value);
        sets.push(`${column} = $${values.length}`);
      };
      if (changes.email !== undefined) set('email', changes.email);
      if (changes.displayName !== undefined) set('display_name', changes.displayName);
      if (changes.password !== undefined) {
        await db.rejectWhileOpen();
        set('password_hash', await hashPassword(changes.password));
      }
      const row = await db
        .transaction(async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `UPDATE users SET ${sets.join(', ')}, updated_at = now(), version = version + 1
             WHERE id = $1 RETURNING ${USER_COLUMNS}`,
            values,
          );
          const updated = rows[0];
          if (updated) await publish(tx, 'user.updated', updated.id, eventData(updated));
          return updated;
        })
        .catch(asConflict);
      if (!row) throw notFound('no such user');
      return toPublic(row);
    });

    app.delete<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
      const id = parseId(request.params.id);
      assertOwner(request, id);
      const deleted = await db.transaction(async (tx) => {
        const { rowCount } = await tx.query(`DELETE FROM users WHERE id = $1`, [id]);
        if (rowCount) await publish(tx, 'user.deleted', id, { id });
        return Boolean(rowCount);
      });
      if (!deleted) throw notFound('no such user');
      return reply.status(204).send();
    });

    app.post('/auth/token', async (request) => {
      const parsed = tokenRequestSchema.safeParse(request.body);
      if (!parsed.success) throw badRequest('username and password are required');
      const { username, password } = parsed.data;
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(username) = lower($1)`, [
        username.trim(),
      ]);
      const user = rows[0];
      // Always one scrypt verification, whether or not the user exists: no user enumeration by timing.
      const valid = await verifyPassword(password, user?.password_hash ?? dummyHash);
      if (!user || !valid) throw unauthorized('invalid username or password');
      const accessToken = await signAccessToken({ sub: user.id, username: user.username }, config.JWT_SECRET, config.JWT_TTL_SECONDS);
      return { accessToken, tokenType: 'Bearer', expiresIn: config.JWT_TTL_SECONDS };
    });
  },
};
