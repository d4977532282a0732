import { createHash } from 'node:crypto';
import { HttpError, type Queryable } from '@msctl/kit';

/**
 * What the throttle and back-off tables store for an address or a username: a digest, so that
 * any text a client sends (a NUL, a lone surrogate) makes a valid key, and the tables hold no
 * usernames or addresses in clear.
 */
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

export const tooManyRequests = (message: string, retryAfterSeconds: number) =>
  new HttpError(429, 'rate_limited', message, undefined, Math.max(1, Math.ceil(retryAfterSeconds)));

/**
 * Bounds how many password hashes run at once, and how many wait. scrypt costs tens of ms of a
 * core: a flood of sign-ups or log-ins queued without bound would outlast the gateway's upstream
 * timeout and open its breaker for everyone. Past the bound a request is refused at once (429),
 * having cost nothing.
 */
export class HashingGate {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly queue: number,
  ) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw tooManyRequests('too many password checks in progress; try again shortly', 1);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running += 1;
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `running` stays counted.
      if (next) next();
      else this.running -= 1;
    }
  }
}

export interface ThrottleLimit {
  /** What is counted, e.g. "login:ip". */
  kind: string;
  /** Whose hits: the address or username. */
  value: string;
  limit: number;
}

/**
 * Counts one hit on each key in its fixed window, in one statement; refuses (429, with the
 * seconds until the fullest window ends) when any key is over its limit.
 */
export async function throttle(db: Queryable, limits: ThrottleLimit[], windowMs: number, what: string): Promise<void> {
  const keyed = limits.map((limit) => ({ ...limit, key: `${limit.kind}:${digest(limit.value)}` }));
  const { rows } = await db.query<{ key: string; hits: number; retry_ms: number }>(
    `INSERT INTO auth_throttle AS t (key, window_start, hits)
     SELECT key, now(), 1 FROM unnest($1::text[]) AS key
     ON CONFLICT (key) DO UPDATE SET
       window_start = CASE WHEN t.window_start <= now() - make_interval(secs => $2 / 1000.0) THEN now() ELSE t.window_start END,
       hits = CASE WHEN t.window_start <= now() - make_interval(secs => $2 / 1000.0) THEN 1 ELSE t.hits + 1 END
     RETURNING key, hits, (extract(epoch FROM window_start - now()) * 1000 + $2)::float8 AS retry_ms`,
    [keyed.map((limit) => limit.key), windowMs],
  );
  const over = rows.flatMap((row) => {
    const limit = keyed.find((candidate) => candidate.key === row.key);
    return limit && row.hits > limit.limit ? [{ ...row, kind: limit.kind }] : [];
  });
  if (over.length === 0) return;
  const retryMs = Math.max(...over.map((row) => row.retry_ms));
  throw tooManyRequests(`too many ${what} from this ${over.some((row) => row.kind.endsWith(':ip')) ? 'address' : 'account'}; try again later`, retryMs / 1000);
}

/** Old windows are useless: dropped now and then, so the table stays as small as the active clients. */
export async function forgetOldWindows(db: Queryable, windowMs: number): Promise<void> {
  await db.query(`DELETE FROM auth_throttle WHERE window_start < now() - make_interval(secs => $1 / 1000.0)`, [windowMs * 2]);
}

export interface BackoffPolicy {
  /** Failed log-ins after which the account starts refusing to check passwords. */
  freeFailures: number;
  baseMs: number;
  maxMs: number;
}

/** While an account backs off, its password is not even checked: 429 until the time named. */
export async function assertNotBackingOff(db: Queryable, username: string): Promise<void> {
  const { rows } = await db.query<{ retry_ms: number }>(
    `SELECT (extract(epoch FROM blocked_until - now()) * 1000)::float8 AS retry_ms FROM login_failures
     WHERE username = $1 AND blocked_until > now()`,
    [digest(username)],
  );
  if (rows[0]) throw tooManyRequests('too many failed log-ins for this account; try again later', rows[0].retry_ms / 1000);
}

/** One more failure: from the last free one on, the account backs off for base·2^n, up to max. */
export async function recordLoginFailure(db: Queryable, username: string, policy: BackoffPolicy): Promise<void> {
  await db.query(
    `INSERT INTO login_failures AS f (username, failures, blocked_until)
     VALUES ($1, 1, CASE WHEN 1 >= $2 THEN now() + make_interval(secs => least($4::float8, $3::float8) / 1000.0) END)
     ON CONFLICT (username) DO UPDATE SET failures = f.failures + 1,
       blocked_until = CASE WHEN f.failures + 1 >= $2
         THEN now() + make_interval(secs => least($4::float8, $3::float8 * power(2, f.failures + 1 - $2)) / 1000.0)
         ELSE NULL END`,
    [digest(username), policy.freeFailures, policy.baseMs, policy.maxMs],
  );
}

export async function clearLoginFailures(db: Queryable, username: string): Promise<void> {
  await db.query(`DELETE FROM login_failures WHERE username = $1`, [digest(username)]);
}
