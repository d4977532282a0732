import { availableParallelism } from 'node:os';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  baseConfigSchema,
  badRequest,
  conflict,
  CREDENTIALS_VERSION_HEADER,
  createCloudEvent,
  changeWithEvent,
  enqueueEvent,
  forbidden,
  jwtConfigSchema,
  kafkaConfigSchema,
  notFound,
  postgresConfigSchema,
  requireDb,
  requireSubject,
  signAccessToken,
  unauthorized,
  type Queryable,
  type ServiceDefinition,
} from '@msctl/kit';
import sql001 from './migrations/001_init.sql?raw';
import sql002 from './migrations/002_credentials.sql?raw';
import { HashingGate, assertNotBackingOff, clearLoginFailures, forgetOldWindows, recordLoginFailure, throttle } from './guards';
import { hashPassword, verifyPassword } from './password';
import { signUpSchema, tokenRequestSchema, updateSchema, userIdSchema } from './schemas';

const cores = availableParallelism();

export const usersConfigSchema = baseConfigSchema.extend({
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  ...jwtConfigSchema.shape,
  /** Password hashes computed at once; the rest of the cores keep serving everything else. */
  PASSWORD_HASH_CONCURRENCY: z.coerce.number().int().positive().default(Math.max(1, cores - 1)),
  /**
   * Hashes that may wait for a slot; one more is refused with 429 at once. Sixteen per slot wait
   * about a second at most (tens of ms each), far inside the gateway's upstream timeout.
   */
  PASSWORD_HASH_QUEUE: z.coerce.number().int().nonnegative().default(16 * Math.max(1, cores - 1)),
  /** Sign-ups, and separately log-ins, per client address per window. */
  PUBLIC_LIMIT_PER_ADDRESS: z.coerce.number().int().positive().default(120),
  /** Log-in attempts per username per window, whatever the address. */
  PUBLIC_LIMIT_PER_USERNAME: z.coerce.number().int().positive().default(30),
  PUBLIC_LIMIT_WINDOW_MS: z.coerce.number().int().positive().default(60_000),
  /** Failed log-ins after which an account backs off (1 s, 2 s, 4 s … up to the max) before it checks a password again. */
  LOGIN_FREE_FAILURES: z.coerce.number().int().nonnegative().default(5),
  LOGIN_BACKOFF_MAX_MS: z.coerce.number().int().positive().default(900_000),
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
  credentials_version: number;
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

const USER_COLUMNS = 'id, username, email, display_name, password_hash, created_at, updated_at, version, credentials_version';

/** The user as the API shows it: never the password hash; the email only to its owner. */
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

/** What user.updated carries, from the changed row (as user.created does): never the hash. */
const EVENT_DATA_SQL = `jsonb_build_object('id', id, 'username', username, 'email', email, 'displayName', display_name)`;

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

/** A path id that is not a uuid names no user: 404, never a database error. */
function parseId(id: string): string {
  const result = userIdSchema.safeParse(id);
  if (!result.success) throw notFound('no such user');
  return result.data.toLowerCase();
}

/** Only the user themself may change or delete their account. */
function assertOwner(request: FastifyRequest, id: string): void {
  if (requireSubject(request).toLowerCase() !== id) throw forbidden('you can only change your own account');
}

/** The client's address as the gateway vouched for it: what the public routes' limits count. */
const clientAddress = (request: FastifyRequest) => request.caller?.clientIp ?? 'unknown';

async function findById(db: Queryable, id: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
  return rows[0];
}

export const usersService: ServiceDefinition<UsersConfig> = {
  name: 'users',
  config: usersConfigSchema,
  postgres: {
    migrations: [
      { id: '001_init', sql: sql001 },
      { id: '002_credentials', sql: sql002 },
    ],
    outbox: true,
  },
  kafka: { topics: [USERS_TOPIC] },

  async setup(context) {
    const db = requireDb(context);
    const { app, config } = context;
    const topic = context.topic(USERS_TOPIC);
    // Compared against when the username is unknown, so that a miss costs as much as a wrong password.
    const dummyHash = await hashPassword(`dummy-${Math.random()}`);
    const hashing = new HashingGate(config.PASSWORD_HASH_CONCURRENCY, config.PASSWORD_HASH_QUEUE);
    const windowMs = config.PUBLIC_LIMIT_WINDOW_MS;
    const backoff = { freeFailures: config.LOGIN_FREE_FAILURES, baseMs: 1_000, maxMs: config.LOGIN_BACKOFF_MAX_MS };
    const janitor = setInterval(() => {
      forgetOldWindows(db, windowMs).catch((error: unknown) => context.logger.warn({ err: error }, 'could not drop old throttle windows'));
    }, windowMs);
    janitor.unref();
    context.onClose(() => clearInterval(janitor));

    /** The caller's current password, checked as a log-in is: counted as a failure when wrong. */
    const assertCurrentPassword = async (row: UserRow, password: string | undefined) => {
      if (password === undefined) throw badRequest('currentPassword is required to change the email or password', [{ path: 'currentPassword', message: 'required' }]);
      await assertNotBackingOff(db, row.username);
      await db.rejectWhileOpen();
      if (await hashing.run(() => verifyPassword(password, row.password_hash))) return;
      await recordLoginFailure(db, row.username, backoff);
      throw forbidden('the current password is wrong');
    };

    /** The change and its event in one statement (the outbox row commits with it). */
    const changeAndPublish = (type: string, text: string, values: unknown[], dataSql = EVENT_DATA_SQL) =>
      changeWithEvent<UserRow>(db, { change: { text, values }, topic, event: { type, source: EVENT_SOURCE }, subjectSql: 'id::text', dataSql });

    app.post('/users', async (request, reply) => {
      const input = signUpSchema.parse(request.body);
      // scrypt costs ~50 ms of CPU: during an outage, refuse before paying for it.
      await db.rejectWhileOpen();
      await throttle(db, [{ kind: 'signup:ip', value: clientAddress(request), limit: config.PUBLIC_LIMIT_PER_ADDRESS }], windowMs, 'sign-ups');
      const passwordHash = await hashing.run(() => hashPassword(input.password));
      // A transaction rather than one statement: rare next to scrypt, and its trace shows the steps.
      const row = await db
        .transaction(async (tx) => {
          const { rows } = await tx.query<UserRow>(
            `INSERT INTO users (username, email, display_name, password_hash)
             VALUES ($1, $2, $3, $4) RETURNING ${USER_COLUMNS}`,
            [input.username, input.email, input.displayName ?? null, passwordHash],
          );
          const created = rows[0]!;
          const data = { id: created.id, username: created.username, email: created.email, displayName: created.display_name };
          await enqueueEvent(tx, topic, createCloudEvent({ type: 'user.created', source: EVENT_SOURCE, subject: created.id, data }));
          return created;
        })
        .catch(asConflict);
      return reply.status(201).header('location', `/users/${row.id}`).send(toPublic(row));
    });

    const me = async (request: FastifyRequest) => {
      const subject = requireSubject(request);
      const row = userIdSchema.safeParse(subject).success ? await findById(db, subject.toLowerCase()) : undefined;
      if (!row) throw notFound('no such user');
      return row;
    };

    app.get('/users/me', async (request) => toPublic(await me(request)));

    // The gateway asks this to tell a current token from one issued before a password change.
    app.get('/users/me/credentials', async (request) => ({ credentialsVersion: (await me(request)).credentials_version }));

    app.get<{ Params: { id: string } }>('/users/:id', async (request) => {
      const subject = requireSubject(request);
      const id = parseId(request.params.id);
      const row = await findById(db, id);
      if (!row) throw notFound('no such user');
      return toPublic(row, subject.toLowerCase() === id);
    });

    app.patch<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
      const id = parseId(request.params.id);
      assertOwner(request, id);
      const { currentPassword, ...changes } = updateSchema.parse(request.body ?? {});
      if (changes.email !== undefined || changes.password !== undefined) {
        const current = await findById(db, id);
        if (!current) throw notFound('no such user');
        await assertCurrentPassword(current, currentPassword);
      }
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
        set('password_hash', await hashing.run(() => hashPassword(changes.password!)));
        sets.push('credentials_version = credentials_version + 1');
      }
      const [row] = await changeAndPublish(
        'user.updated',
        `UPDATE users SET ${sets.join(', ')}, updated_at = now(), version = version + 1 WHERE id = $1 RETURNING ${USER_COLUMNS}`,
        values,
      ).catch(asConflict);
      if (!row) throw notFound('no such user');
      void reply.header(CREDENTIALS_VERSION_HEADER, String(row.credentials_version));
      return toPublic(row);
    });

    app.delete<{ Params: { id: string } }>('/users/:id', async (request, reply) => {
      const id = parseId(request.params.id);
      assertOwner(request, id);
      const deleted = await changeAndPublish('user.deleted', `DELETE FROM users WHERE id = $1 RETURNING id`, [id], `jsonb_build_object('id', id)`);
      if (deleted.length === 0) throw notFound('no such user');
      return reply.status(204).send();
    });

    app.post('/auth/token', async (request) => {
      const parsed = tokenRequestSchema.safeParse(request.body);
      if (!parsed.success) throw badRequest('username and password are required');
      const { password } = parsed.data;
      const username = parsed.data.username.trim().toLowerCase();
      await db.rejectWhileOpen();
      await throttle(
        db,
        [
          { kind: 'login:ip', value: clientAddress(request), limit: config.PUBLIC_LIMIT_PER_ADDRESS },
          { kind: 'login:user', value: username, limit: config.PUBLIC_LIMIT_PER_USERNAME },
        ],
        windowMs,
        'log-ins',
      );
      await assertNotBackingOff(db, username);
      const { rows } = await db.query<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE lower(username) = $1`, [username]);
      const user = rows[0];
      // Always one scrypt verification, whether or not the user exists: no user enumeration by timing.
      const valid = await hashing.run(() => verifyPassword(password, user?.password_hash ?? dummyHash));
      if (!user || !valid) {
        // Unknown names back off too, so the answer does not tell which names exist.
        await recordLoginFailure(db, username, backoff);
        throw unauthorized('invalid username or password');
      }
      await clearLoginFailures(db, username);
      const accessToken = await signAccessToken(
        { sub: user.id, username: user.username, ver: user.credentials_version },
        config.JWT_SECRET,
        config.JWT_TTL_SECONDS,
      );
      return { accessToken, tokenType: 'Bearer', expiresIn: config.JWT_TTL_SECONDS };
    });
  },
};
