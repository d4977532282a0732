/**
 * Suite 5, bad input: ≥ 10k requests generated from the gateway's OpenAPI document (fast-check)
 * against every documented route, 20 at a time, through the real gateway and services on the
 * run's real Kafka and PostgreSQL → zero 5xx, every answer documented (status and body schema),
 * every error a JSON {error, message}, every oversize body 413; afterwards PostgreSQL and
 * analytics hold exactly the writes that were answered 2xx and nothing of the refused ones, and
 * every service is healthy. SQL-ish strings are stored and read back verbatim, checked through
 * the API and in PostgreSQL itself.
 *
 * FUZZ_REQUESTS (default 10000) and FUZZ_SEED (default: random, printed) reproduce a run.
 */
import fc from 'fast-check';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import pg from 'pg';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import type { RunningService } from '@msctl/kit';
import type { OpenApiDocument } from '../../services/gateway/src/openapi';
import { SQL_ISH, directedRequests, oversizeBody, requestsFor, type GeneratedRequest } from './generate';
import { ResponseChecker, operationsOf, type Answer, type DocumentedOperation } from './openapi-support';
import { startSecurityStack, type SecurityStack } from './stack';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONCURRENCY = 20;

let stack: SecurityStack;
let gateway: RunningService<unknown>;
let document: OpenApiDocument;
const agent = new Agent({ connections: CONCURRENCY, keepAliveTimeout: 10_000 });
const suffix = uniqueSuffix();
const password = 'fuzzing is fun, really';
let userId: string;
let token: string;

async function send(method: string, path: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  const response = await request(`${gateway.url}${path}`, { method: method as 'GET', headers, body, dispatcher: agent, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const text = await response.body.text();
  const header = (name: string) => {
    const value = response.headers[name];
    return value === undefined ? null : String(value);
  };
  return { status: response.statusCode, contentType: header('content-type'), retryAfter: header('retry-after'), text };
}

const json = (answer: Answer) => JSON.parse(answer.text) as Record<string, unknown>;
const bearer = () => ({ authorization: `Bearer ${token}` });

const usersSchema = () => (stack.services.users!.context.config as { DATABASE_SCHEMA: string }).DATABASE_SCHEMA;

/** Whether `group` of `service` has committed every record its topics hold. */
async function consumed(admin: Admin, service: string, group: string, topics: string[]): Promise<boolean> {
  const { context } = stack.services[service]!;
  const groupId = context.topic(group);
  for (const topic of topics.map((name) => context.topic(name))) {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) {
      const offset = Number(committed?.partitions.find((p) => p.partition === partition)?.offset ?? -1);
      if (Math.max(offset, 0) !== Number(high)) return false;
    }
  }
  return true;
}

/**
 * Waits until every write the stack acknowledged reached analytics: the users outbox is
 * published, then data-processing and analytics have consumed all there is, in that order.
 */
async function settled(db: pg.Client): Promise<void> {
  const admin = new Kafka({ clientId: 'fuzz-settled', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await eventually(
      async () => {
        const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${usersSchema()}".outbox WHERE published_at IS NULL`);
        if (rows[0]!.n > 0) return undefined;
        if (!(await consumed(admin, 'data-processing', 'data-processing', ['events.raw']))) return undefined;
        return (await consumed(admin, 'analytics', 'analytics', ['events.processed', 'users.events'])) ? true : undefined;
      },
      120_000,
      'the users outbox published and every event consumed',
    );
  } finally {
    await admin.disconnect();
  }
}

beforeAll(async () => {
  stack = await startSecurityStack();
  gateway = await stack.startGateway();
  document = json(await send('GET', '/api/openapi.json', {})) as unknown as OpenApiDocument;
  const signUp = await send('POST', '/api/users', { 'content-type': 'application/json' }, JSON.stringify({ username: `fuzz_${suffix}`, email: `fuzz_${suffix}@example.test`, password }));
  expect(signUp.status, signUp.text).toBe(201);
  userId = String(json(signUp).id);
  const login = await send('POST', '/api/auth/token', { 'content-type': 'application/json' }, JSON.stringify({ username: `fuzz_${suffix}`, password }));
  token = String(json(login).accessToken);
});
afterAll(async () => {
  await stack?.close();
  await agent.close();
});

describe('suite 5: bad input through the gateway', () => {
  it(`answers ${REQUESTS} generated requests on every documented route without a 5xx, as documented`, async () => {
    const operations = operationsOf(document);
    const checker = new ResponseChecker(document);
    const byOperation = new Map(operations.map((op) => [`${op.method} ${op.path}`, op]));
    const arbitrary = fc.tuple(
      fc.oneof(...operations.map((op) => requestsFor(document, op, userId))),
      fc.constantFrom('valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'valid', 'none', 'garbage'),
    );

    const statuses = new Map<number, number>();
    const perOperation = new Map<string, number>();
    const perKind = new Map<string, number>();
    const problems: string[] = [];
    let fiveHundreds = 0;
    let transportErrors = 0;
    let storedVerbatim = 0;
    // What the stack said it stored: it must hold exactly that, whatever else it was sent.
    const written = { created: 0, updated: 0, deleted: 0 };
    const acceptedEventIds = new Set<string>();
    const bump = (map: Map<string | number, number>, key: string | number) => map.set(key, (map.get(key) ?? 0) + 1);

    const check = (generated: GeneratedRequest, auth: string, sentBody: string | Buffer | undefined, answer: Answer) => {
      const op = byOperation.get(generated.operation) as DocumentedOperation;
      const where = `[${generated.kind}] ${generated.method} ${generated.path.slice(0, 120)} → ${answer.status}`;
      bump(statuses as Map<string | number, number>, answer.status);
      if (answer.status >= 500) {
        fiveHundreds++;
        problems.push(`${where}: 5xx ${answer.text.slice(0, 200)} for body ${String(sentBody ?? '').slice(0, 200)}`);
        return;
      }
      // No valid token on a protected route: 401 whatever else is wrong; otherwise what the request expects.
      const expected = auth !== 'valid' && op.operation.security.length > 0 ? 401 : generated.expectStatus;
      // A malformed URL is refused by the gateway's router before any route (and its auth) applies.
      const badUrl = answer.status === 400 && answer.text.includes('"FST_ERR_BAD_URL"');
      if (expected !== undefined && answer.status !== expected && !badUrl) problems.push(`${where}: expected ${expected}: ${answer.text.slice(0, 200)}`);
      if (answer.status >= 400) {
        let body: Record<string, unknown> | undefined;
        try {
          body = JSON.parse(answer.text) as Record<string, unknown>;
        } catch {
          body = undefined;
        }
        if (typeof body?.error !== 'string' || typeof body.message !== 'string') problems.push(`${where}: error body is not {error, message}: ${answer.text.slice(0, 200)}`);
      }
      for (const problem of checker.problems(op, answer)) problems.push(`[${generated.kind}] ${problem} (path ${generated.path.slice(0, 120)})`);
      if (generated.operation === 'POST /api/users' && answer.status === 201) written.created++;
      if (generated.operation === 'PATCH /api/users/{id}' && answer.status === 200) written.updated++;
      if (generated.operation === 'DELETE /api/users/{id}' && answer.status === 204) written.deleted++;
      if (generated.operation === 'POST /api/events' && answer.status === 202) {
        try {
          for (const id of (JSON.parse(answer.text) as { ids: string[] }).ids) acceptedEventIds.add(id);
        } catch {
          // Not the documented body: the checker said so already.
        }
      }
      // What was stored comes back as sent (trimmed, as the schema says), whatever it holds.
      if ((answer.status === 201 || answer.status === 200) && (generated.operation === 'POST /api/users' || generated.operation === 'PATCH /api/users/{id}')) {
        const input = JSON.parse(String(sentBody)) as { displayName?: string | null };
        if (typeof input.displayName === 'string' && (input.displayName as string & { isWellFormed(): boolean }).isWellFormed()) {
          const stored = json(answer).displayName;
          if (stored !== input.displayName.trim()) problems.push(`${where}: displayName ${JSON.stringify(input.displayName)} came back as ${JSON.stringify(stored)}`);
          else storedVerbatim++;
        }
      }
    };

    const directed = directedRequests(document, operations, userId).map((request) => [request, 'valid'] as [GeneratedRequest, string]);
    const CHUNK = 500;
    for (let chunk = -1; chunk * CHUNK < REQUESTS; chunk++) {
      const batch = chunk < 0 ? directed : fc.sample(arbitrary, { numRuns: Math.min(CHUNK, REQUESTS - chunk * CHUNK), seed: SEED + chunk });
      let next = 0;
      const worker = async () => {
        while (next < batch.length) {
          const [generated, auth] = batch[next++]!;
          const headers = { ...generated.headers, ...(auth === 'valid' ? bearer() : auth === 'garbage' ? { authorization: 'Bearer x.y.z' } : {}) };
          const body = generated.oversize ? oversizeBody(generated.oversize) : generated.body;
          bump(perOperation, generated.operation);
          bump(perKind, generated.kind);
          try {
            check(generated, auth, body, await send(generated.method, generated.path, headers, body));
          } catch (error) {
            transportErrors++;
            problems.push(`[${generated.kind}] ${generated.method} ${generated.path.slice(0, 120)}: no answer: ${String(error)}`);
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    }

    const summary = {
      seed: SEED,
      directed: directed.length,
      fiveHundreds,
      transportErrors,
      storedVerbatim,
      written,
      acceptedEvents: acceptedEventIds.size,
      statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])),
      perOperation: Object.fromEntries(perOperation),
      perKind: Object.fromEntries(perKind),
    };
    console.log(`[fuzz] ${JSON.stringify(summary)}`);
    expect(problems.slice(0, 40), `${problems.length} problems; FUZZ_SEED=${SEED} reproduces`).toEqual([]);

    const db = new pg.Client({ connectionString: inject('postgresUrl') });
    await db.connect();
    try {
      await settled(db);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${usersSchema()}".users`);
      // The fuzzing user, and the sign-ups answered 201 less the deletions answered 204.
      expect(rows[0]!.n, `FUZZ_SEED=${SEED}`).toBe(1 + written.created - written.deleted);
    } finally {
      await db.end();
    }
    const counted = json(await send('GET', '/api/analytics/summary', bearer())) as { totalEvents: number; byType: Record<string, number> };
    const userEvents = { 'user.created': 1 + written.created, 'user.updated': written.updated, 'user.deleted': written.deleted };
    expect(Object.fromEntries(Object.keys(userEvents).map((type) => [type, counted.byType[type] ?? 0])), `FUZZ_SEED=${SEED}`).toEqual(userEvents);
    const ingested = counted.totalEvents - Object.values(userEvents).reduce((sum, n) => sum + n, 0);
    expect(ingested, `events counted besides the users' own; FUZZ_SEED=${SEED}`).toBe(acceptedEventIds.size);

    for (const [name, service] of [...Object.entries(stack.services), ['gateway', gateway] as const]) {
      const response = await fetch(`${service.url}/health`);
      const health = (await response.json()) as { status: string };
      expect({ name, code: response.status, status: health.status }).toEqual({ name, code: 200, status: 'pass' });
    }
  });

  it('stores SQL-ish strings verbatim: through the API and in PostgreSQL', async () => {
    const post = (path: string, body: unknown, headers: Record<string, string> = bearer()) =>
      send('POST', path, { 'content-type': 'application/json', ...headers }, JSON.stringify(body));
    const displayName = SQL_ISH.slice(0, 5).join(' | ');
    const email = `o'brien+${suffix}--@example.test`;
    const signUp = await post('/api/users', { username: `sqlish_${suffix}`, email, password, displayName }, {});
    expect(signUp.status, signUp.text).toBe(201);
    const created = json(signUp);
    expect(created).toMatchObject({ displayName, email });
    const login = await post('/api/auth/token', { username: `sqlish_${suffix}`, password }, {});
    const own = { authorization: `Bearer ${String(json(login).accessToken)}` };
    const me = json(await send('GET', '/api/users/me', own));
    expect(me).toMatchObject({ displayName, email });

    // Directly in PostgreSQL, in the users service's own schema.
    const client = new pg.Client({ connectionString: inject('postgresUrl') });
    await client.connect();
    try {
      const schema = (stack.services.users!.context.config as { DATABASE_SCHEMA: string }).DATABASE_SCHEMA;
      const { rows } = await client.query<{ display_name: string; email: string }>(`SELECT display_name, email FROM "${schema}".users WHERE id = $1`, [created.id]);
      expect(rows).toEqual([{ display_name: displayName, email }]);
      const { rows: tables } = await client.query(`SELECT count(*)::int AS n FROM "${schema}".users`);
      expect((tables[0] as { n: number }).n).toBeGreaterThanOrEqual(2);
    } finally {
      await client.end();
    }

    // Through Kafka into notifications (JSONB) and analytics: an alert whose data is all SQL-ish.
    const data = Object.fromEntries(SQL_ISH.map((value, index) => [`k${index}'--`, value]));
    const accepted = await post('/api/events', { type: 'alert.triggered', subject: String(created.id), data: { ...data, title: SQL_ISH[1], message: SQL_ISH[0] } }, own);
    expect(accepted.status, accepted.text).toBe(202);
    const alert = await eventually(async () => {
      const list = json(await send('GET', '/api/notifications?limit=50', own)).notifications as Array<Record<string, unknown>>;
      return list.find((n) => n.kind === 'alert.triggered');
    }, 30_000, 'the alert notification');
    expect(alert).toMatchObject({ title: SQL_ISH[1], body: SQL_ISH[0], data: { ...data, title: SQL_ISH[1], message: SQL_ISH[0] } });
    const welcome = await eventually(async () => {
      const list = json(await send('GET', '/api/notifications?limit=50', own)).notifications as Array<Record<string, unknown>>;
      return list.find((n) => n.kind === 'welcome');
    }, 30_000, 'the welcome notification');
    expect(welcome.title).toBe(`Welcome, ${displayName}!`);

    // SQL-ish query strings are values, never SQL.
    for (const value of SQL_ISH) {
      const series = await send('GET', `/api/analytics/timeseries?type=${encodeURIComponent(value)}`, own);
      expect(series.status, series.text).toBe(200);
      expect(json(series)).toEqual({ type: value, points: [] });
    }
    expect((await send('GET', '/api/users/me', bearer())).status).toBe(200);
  });
});
