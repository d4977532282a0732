/**
 * A load test from start to verdict: sign up and log in users (before the clock), read the
 * gateway's rate limit (raise it only when asked), warm up, drive the load (closed: autocannon;
 * open: fixed arrival rate), watch /metrics, judge the SLOs and, after ingest, check that what
 * the stack accepted is what analytics counted. Returns data; the CLI renders it.
 */
import { cpus } from 'node:os';
import { MsctlError } from '../core/errors';
import { driveClosed, driveWorkers, type DriveOutcome } from './closed';
import { MetricsWatcher, type Fetcher, healthFetcher, httpFetcher } from './metrics';
import { driveOpen } from './open';
import { Recorder } from './recorder';
import { builtInScenario, ingestTypes, isBuiltIn, loadCustomScenario } from './scenarios';
import { DEFAULT_SLOS, evaluateSlos, type SloTable } from './slo';
import type { GroupResult, Identity, IngestCheck, LoadResult, Plan, RequestTemplate, SecondSample } from './types';
import { sleep } from '../core/sleep';

export type LoadEvent =
  | { type: 'phase'; text: string }
  | { type: 'tick'; phase: 'warmup' | 'measure'; elapsedSeconds: number; durationSeconds: number; sample: SecondSample; totalRequests: number };

export interface LoadTestOptions {
  /** The gateway, e.g. http://127.0.0.1:4000 */
  baseUrl: string;
  /** A built-in scenario name or a path to a YAML/JSON scenario file. */
  scenario: string;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** Fixed arrival rate (requests/s): the open model. */
  rate?: number;
  /** autocannon worker threads (closed model only). */
  workers?: number;
  /** Users signed up and logged in before the run. */
  users: number;
  timeoutSeconds: number;
  slo?: { table: SloTable; source: string };
  /** Service name → its /metrics URL. */
  metrics: Record<string, string>;
  /** Service name → its /health URL (the consumers' state at the end of the run). */
  health?: Record<string, string>;
  /** Raise the gateway's per-client limit to this before the run (needs `raiseRateLimit` in deps). */
  raiseRateLimitTo?: number;
  /** How long the ingest check waits for analytics to catch up (default 30 s). */
  checkTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: LoadEvent) => void;
}

export interface LoadTestDeps {
  fetch: typeof fetch;
  metricsFetcher: Fetcher;
  /** Reads /health, whatever its status code. */
  healthFetcher: Fetcher;
  /** Restarts the gateway with a new per-client limit (per-stack setting). */
  raiseRateLimit?: (perSecond: number) => Promise<void>;
  sleep: (ms: number) => Promise<unknown>;
}

export const defaultDeps: LoadTestDeps = {
  fetch: (...args) => fetch(...args),
  metricsFetcher: httpFetcher,
  healthFetcher,
  sleep,
};

const PASSWORD = 'load-test-password';

const newRunId = () => Array.from({ length: 8 }, () => 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)]).join('');

async function call(deps: LoadTestDeps, baseUrl: string, method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let response: Response;
    try {
      response = await deps.fetch(`${baseUrl}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      throw new MsctlError('NOT_RUNNING', `the gateway at ${baseUrl} cannot be reached (${(error as Error).message})`, 'start the stack with `msctl up -d`', { cause: error });
    }
    // Before the clock: sign-ups are anonymous and share one per-address limit (429), and a stack
    // that has just started may still answer 503 with Retry-After. Wait and retry.
    if ((response.status === 429 || response.status === 503) && attempt < 20) {
      await response.body?.cancel();
      const retryAfter = Number(response.headers.get('retry-after'));
      await deps.sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 5) * 1000 : 1_000);
      continue;
    }
    return response;
  }
}

/** Signs up and logs in `count` users, a few at a time (password hashing is slow on purpose). */
export async function prepareUsers(deps: LoadTestDeps, baseUrl: string, runId: string, count: number): Promise<Identity[]> {
  const identities: Identity[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const username = `lt-${runId}-${i}`;
      const created = await call(deps, baseUrl, 'POST', '/api/users', { username, email: `${username}@load.test`, password: PASSWORD, displayName: `Load ${i}` });
      const user = (await created.json().catch(() => ({}))) as { id?: string; message?: string };
      if (created.status !== 201 || !user.id) {
        throw new MsctlError('LOAD_TEST_FAILED', `signing up the load test's user ${username} failed: ${created.status} ${user.message ?? ''}`.trim(), 'check `msctl status` and `msctl logs users`');
      }
      const login = await call(deps, baseUrl, 'POST', '/api/auth/token', { username, password: PASSWORD });
      const token = (await login.json().catch(() => ({}))) as { accessToken?: string };
      if (login.status !== 200 || !token.accessToken) throw new MsctlError('LOAD_TEST_FAILED', `logging in ${username} failed: ${login.status}`, 'check `msctl logs users`');
      identities[i] = { userId: user.id, token: token.accessToken };
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, count) }, worker));
  return identities;
}

/** The per-client limit the gateway enforces, from the `x-ratelimit-limit` header of an authenticated request. */
export async function readRateLimit(deps: LoadTestDeps, baseUrl: string, token: string): Promise<number | null> {
  const response = await call(deps, baseUrl, 'GET', '/api/users/me', undefined, token);
  await response.body?.cancel();
  const header = response.headers.get('x-ratelimit-limit');
  return header === null ? null : Number(header);
}

/** After an ingest run: poll analytics until its count for the run's types equals what was accepted (or time runs out). */
export async function checkIngest(deps: LoadTestDeps, baseUrl: string, token: string, types: string[], accepted: number, timeoutMs: number): Promise<IngestCheck> {
  const started = Date.now();
  let counted: number | null = null;
  for (;;) {
    const response = await call(deps, baseUrl, 'GET', '/api/analytics/summary', undefined, token);
    if (response.ok) {
      const summary = (await response.json()) as { byType?: Record<string, number> };
      counted = types.reduce((sum, type) => sum + (summary.byType?.[type] ?? 0), 0);
      if (counted === accepted) break;
    } else {
      await response.body?.cancel();
    }
    if (Date.now() - started >= timeoutMs) break;
    await deps.sleep(500);
  }
  return { ran: true, types, accepted, counted, ok: counted === accepted, waitedMs: Date.now() - started };
}

async function drive(
  options: LoadTestOptions,
  plan: Plan,
  recorder: Recorder,
  durationSeconds: number,
  phase: 'warmup' | 'measure',
): Promise<DriveOutcome & { late?: number }> {
  const base = { baseUrl: options.baseUrl, plan, durationSeconds, connections: options.connections, timeoutSeconds: options.timeoutSeconds, recorder, ...(options.signal ? { signal: options.signal } : {}) };
  const started = performance.now();
  const ticker = setInterval(() => {
    const sample = recorder.lastSecond();
    if (sample) options.onEvent?.({ type: 'tick', phase, elapsedSeconds: Math.round((performance.now() - started) / 1000), durationSeconds, sample, totalRequests: recorder.requests });
  }, 1_000);
  try {
    if (options.rate !== undefined) return await driveOpen({ ...base, rate: options.rate });
    if (options.workers !== undefined && options.workers > 1) return await driveWorkers({ ...base, workers: options.workers });
    return await driveClosed(base);
  } finally {
    clearInterval(ticker);
  }
}

function allGroup(recorder: Recorder, duration: number): GroupResult {
  const per = (n: number) => Math.round((n / duration) * 10) / 10;
  return {
    requests: recorder.requests,
    ok: recorder.ok,
    requestsPerSecond: per(recorder.requests),
    okPerSecond: per(recorder.ok),
    eventsAccepted: recorder.events,
    eventsPerSecond: per(recorder.events),
    latency: recorder.latency(),
    statusCodes: Object.fromEntries(recorder.statusCodes),
  };
}

export async function runLoadTest(options: LoadTestOptions, deps: LoadTestDeps = defaultDeps): Promise<LoadResult> {
  if (options.rate !== undefined && options.workers !== undefined && options.workers > 1) {
    throw new MsctlError('USAGE', '--workers applies to the closed model (autocannon); --rate runs the open-model generator in one thread', 'drop one of the two');
  }
  const runId = newRunId();
  const emit = (text: string) => options.onEvent?.({ type: 'phase', text });
  const custom = !isBuiltIn(options.scenario);
  let scenarioName = options.scenario;
  let templates: RequestTemplate[];
  if (custom) {
    const loaded = await loadCustomScenario(options.scenario);
    scenarioName = loaded.name;
    templates = loaded.templates;
  } else {
    templates = builtInScenario(options.scenario as Parameters<typeof builtInScenario>[0], runId);
  }

  let raised = false;
  if (options.raiseRateLimitTo !== undefined) {
    if (!deps.raiseRateLimit) throw new MsctlError('USAGE', 'raising the rate limit needs the local runtime');
    emit(`raising the gateway's rate limit to ${options.raiseRateLimitTo}/s per client (restarting the gateway)`);
    await deps.raiseRateLimit(options.raiseRateLimitTo);
    raised = true;
  }

  emit(`signing up and logging in ${options.users} users (before the clock starts)`);
  const identities = await prepareUsers(deps, options.baseUrl, runId, options.users);
  const rateLimit = await readRateLimit(deps, options.baseUrl, identities[0]!.token);
  if (raised && rateLimit !== options.raiseRateLimitTo) {
    throw new MsctlError(
      'LOAD_TEST_FAILED',
      `the gateway still enforces ${rateLimit ?? 'no'} requests/s per client after the restart, not ${options.raiseRateLimitTo}`,
      'MSCTL_RATE_LIMIT_PER_SECOND in the environment of `msctl up` overrides .msctl/settings.json: unset it, then `msctl restart gateway`',
    );
  }
  const plan: Plan = { scenario: scenarioName, runId, templates, identities };

  let warmupAccepted = 0;
  if (options.warmupSeconds > 0) {
    emit(`warming up for ${options.warmupSeconds} s (not measured)`);
    const warm = new Recorder();
    await drive(options, plan, warm, options.warmupSeconds, 'warmup');
    warmupAccepted = warm.events;
  }
  options.signal?.throwIfAborted();

  const watcher = new MetricsWatcher(options.metrics, deps.metricsFetcher, undefined, { urls: options.health ?? {}, fetcher: deps.healthFetcher });
  await watcher.start();
  emit(`running ${scenarioName} for ${options.durationSeconds} s`);
  const startedAt = new Date();
  const recorder = new Recorder();
  const outcome = await drive(options, plan, recorder, options.durationSeconds, 'measure');
  const duration = outcome.durationSeconds;
  const server = await watcher.stop(duration);
  options.signal?.throwIfAborted();

  const groups = recorder.groupResults(duration);
  const all = allGroup(recorder, duration);
  const sloSource = options.slo ?? { table: DEFAULT_SLOS, source: 'default' };
  const slo = evaluateSlos(sloSource.table, groups, all, sloSource.source);

  let ingestCheck: IngestCheck;
  if (custom) {
    ingestCheck = { ran: false, reason: 'custom scenario: its event types are not known', types: [], accepted: recorder.events, counted: null, ok: true, waitedMs: 0 };
  } else if (!groups.ingest) {
    ingestCheck = { ran: false, reason: 'no ingest requests in this scenario', types: [], accepted: 0, counted: null, ok: true, waitedMs: 0 };
  } else {
    emit('checking that analytics counted every accepted event');
    const types = Object.values(ingestTypes(runId));
    ingestCheck = await checkIngest(deps, options.baseUrl, identities[0]!.token, types, warmupAccepted + recorder.events, options.checkTimeoutMs ?? 30_000);
  }

  const workers = options.rate === undefined && options.workers !== undefined && options.workers > 1 ? options.workers : null;
  const connections = workers ? Math.max(1, Math.floor(options.connections / workers)) * workers : options.connections;
  return {
    scenario: scenarioName,
    runId,
    target: options.baseUrl,
    model: options.rate === undefined ? 'closed' : 'open',
    modelDescription:
      options.rate === undefined
        ? `closed model: ${connections} connections, each sends its next request when the previous one is answered; latency from send to answer`
        : `open model: ${options.rate} requests/s on a fixed schedule; latency from each request's intended start (coordinated omission corrected)`,
    generator: outcome.generator,
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(duration * 1000) / 1000,
    warmupSeconds: options.warmupSeconds,
    connections,
    workers,
    rate: options.rate ?? null,
    users: identities.length,
    rateLimit: { perSecondPerClient: rateLimit, clients: identities.length, raised, source: 'x-ratelimit-limit header of the gateway' },
    totals: {
      requests: all.requests,
      ok: all.ok,
      requestsPerSecond: all.requestsPerSecond,
      okPerSecond: all.okPerSecond,
      eventsAccepted: all.eventsAccepted,
      eventsPerSecond: all.eventsPerSecond,
      non2xx: [...recorder.statusCodes].filter(([code]) => !code.startsWith('2')).reduce((sum, [, n]) => sum + n, 0),
      errors: recorder.errors,
      errorsByCode: Object.fromEntries(recorder.errorsByCode),
      statusCodes: Object.fromEntries(recorder.statusCodes),
      late: outcome.late ?? null,
      unanswered: outcome.unanswered,
    },
    latency: all.latency,
    groups,
    timeline: recorder.timeline(),
    histogram: recorder.histogram(),
    server,
    slo,
    ingestCheck,
    machine: { cpus: cpus().length, node: process.version },
  };
}
