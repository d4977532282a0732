/**
 * bench/bare-read-service: the least a Node service can do to answer the notifications read, as
 * the floor to judge the notifications row by. node:http, one pg Pool, the notifications
 * service's own list query on its own table, the rows as JSON. The caller is the assertion's
 * subject, read without checking its signature. No fastify, validation, breaker, metrics, logs
 * or tracing.
 *
 *   msctl exec notifications -- node scripts/run-ts.mjs bench/bare-read-service.ts <port>
 *
 * (`msctl exec` gives it the notifications service's database role and schema.) bench/load.ts
 * starts it so, as its own process, with bench/bare-proxy.ts in front of it.
 */
import { createServer } from 'node:http';
import pg from 'pg';
import { ASSERTION_HEADER } from '../services/kit/src/auth';

const port = Number(process.argv[2]);
const { DATABASE_URL, DATABASE_SCHEMA } = process.env;
if (!port || !DATABASE_URL || !DATABASE_SCHEMA) {
  process.stderr.write('usage: msctl exec notifications -- node scripts/run-ts.mjs bench/bare-read-service.ts <port>\n');
  process.exit(2);
}
// As many connections as the service's own pool.
const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10, options: `-c search_path=${DATABASE_SCHEMA}` });
const LIST = `SELECT id, event_id, user_id, kind, title, body, data, created_at, read_at FROM notifications
  WHERE user_id = $1 AND ($2::boolean = false OR read_at IS NULL)
  ORDER BY created_at DESC, seq DESC
  LIMIT $3`;

/** The `sub` of a JWT, its signature unchecked. */
function subject(token: string | string[] | undefined): string | null {
  const payload = typeof token === 'string' ? token.split('.')[1] : undefined;
  if (!payload) return null;
  try {
    const sub = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown }).sub;
    return typeof sub === 'string' ? sub : null;
  } catch {
    return null;
  }
}

createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://bare');
  const userId = subject(request.headers[ASSERTION_HEADER]);
  if (url.pathname !== '/notifications' || !userId) {
    response.writeHead(url.pathname === '/notifications' ? 401 : 404).end();
    return;
  }
  pool
    .query(LIST, [userId, url.searchParams.get('unreadOnly') === 'true', Number(url.searchParams.get('limit') ?? 20)])
    .then(({ rows }) => {
      const body = JSON.stringify({ notifications: rows });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      response.end(body);
    })
    .catch(() => response.writeHead(500).end());
}).listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
