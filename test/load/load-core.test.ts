/**
 * The pure parts of load-test: request generation (shares, placeholders, drain), Prometheus
 * parsing and before/after diffs, SLO judgement, scenario files, the HDR recorder, the HTML
 * report's self-containedness. The real runs against a stack are in load-test.test.ts.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workerModuleSource } from '../../src/load/closed';
import { parsePrometheus } from '../../src/core/prometheus';
import { consumerProblems, diffSnapshots, snapshotOf } from '../../src/load/metrics';
import { Recorder } from '../../src/load/recorder';
import { renderHtmlReport } from '../../src/load/report';
import { BATCH_SIZE, builtInScenario, ingestTypes, parseCustomScenario } from '../../src/load/scenarios';
import { DEFAULT_SLOS, evaluateSlos, loadSloFile } from '../../src/load/slo';
import { createGenerator } from '../../src/load/template';
import type { GroupResult, LoadResult, Plan } from '../../src/load/types';
import { MsctlError } from '../../src/core/errors';

const plan = (templates = builtInScenario('users', 'run1')): Plan => ({
  scenario: 'test',
  runId: 'run1',
  templates,
  identities: [
    { userId: 'u-1', token: 't-1' },
    { userId: 'u-2', token: 't-2' },
  ],
});

describe('request generator', () => {
  it('keeps sign-ups at 0.5 % of the users scenario, exactly, and fills placeholders', () => {
    const generator = createGenerator(plan(), () => undefined);
    const counts = new Map<string, number>();
    const usernames = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const request = generator.next();
      const key = `${request.method} ${request.path.startsWith('/api/users/u-') ? '/api/users/:id' : request.path}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      expect(request.path).not.toContain('{{');
      if (request.body) {
        expect(request.body).not.toContain('{{');
        JSON.parse(request.body);
      }
      if (key === 'POST /api/users') usernames.add((JSON.parse(request.body!) as { username: string }).username);
      else expect(request.headers.authorization).toMatch(/^Bearer t-[12]$/);
    }
    expect(counts.get('POST /api/users')).toBe(10); // 1 in 200
    expect(usernames.size).toBe(10);
    expect(counts.get('GET /api/users/me')).toBe(1_390);
    expect(counts.get('PATCH /api/users/:id')).toBe(600);
  });

  it('sends the same user id in the path as the token it authenticates with', () => {
    const generator = createGenerator(plan(), () => undefined);
    for (let i = 0; i < 300; i++) {
      const request = generator.next();
      if (request.method === 'PATCH') expect(request.headers.authorization?.slice(-1)).toBe(request.path.slice(-1));
    }
  });

  it('ingest: unique types per run, batches of BATCH_SIZE', () => {
    const generator = createGenerator(plan(builtInScenario('ingest', 'abc123')), () => undefined);
    const types = ingestTypes('abc123');
    let batches = 0;
    for (let i = 0; i < 50; i++) {
      const body = JSON.parse(generator.next().body!) as { type?: string; events?: Array<{ type: string }> };
      if (body.events) {
        batches++;
        expect(body.events).toHaveLength(BATCH_SIZE);
        expect(new Set(body.events.map((e) => e.type))).toEqual(new Set([types.batch]));
      } else expect(body.type).toBe(types.single);
    }
    expect(batches).toBe(10);
  });


  it("notifications and analytics are each one row of the seed's table alone; read is both, 3 : 1", () => {
    const groupsOf = (scenario: 'notifications' | 'analytics' | 'read') => {
      const generator = createGenerator(plan(builtInScenario(scenario, 'r')), () => undefined);
      const counts: Record<string, number> = {};
      for (let i = 0; i < 40; i++) {
        const request = generator.next();
        expect(request.method).toBe('GET');
        counts[request.group] = (counts[request.group] ?? 0) + 1;
      }
      return counts;
    };
    expect(groupsOf('notifications')).toEqual({ notifications: 40 });
    expect(groupsOf('analytics')).toEqual({ analytics: 40 });
    expect(groupsOf('read')).toEqual({ notifications: 30, analytics: 10 });
  });
  it('as autocannon hooks: reports answers with their group and accepted events; after measureUntil only drains', () => {
    const answers: Array<[string, number, number]> = [];
    const generator = createGenerator({ ...plan(builtInScenario('ingest', 'r')), measureUntil: Date.now() + 60_000 }, (group, status, _latency, accepted) => answers.push([group, status, accepted]));
    const context: Record<string, unknown> = {};
    const request = generator.setupRequest({}, context);
    expect(request.path).toBe('/api/events');
    expect(generator.outstanding()).toBe(1);
    generator.onResponse(202, JSON.stringify({ accepted: 50, ids: [] }), context);
    expect(answers).toEqual([['ingest', 202, 50]]);
    expect(generator.outstanding()).toBe(0);

    const ended = createGenerator({ ...plan(), measureUntil: Date.now() - 1 }, (group) => answers.push([group, 0, 0]));
    const drainContext: Record<string, unknown> = {};
    expect(ended.setupRequest({}, drainContext).path).toBe('/__msctl-load-test-drain');
    ended.onResponse(404, '{}', drainContext);
    expect(answers).toHaveLength(1);
    expect(ended.outstanding()).toBe(0);
  });

  it("builds a worker module whose source runs on its own (autocannon's worker threads require it)", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msctl-load-unit-'));
    const file = join(dir, 'generator.cjs');
    await writeFile(file, workerModuleSource(plan(), 'unit-test-channel'));
    const { createRequire } = await import('node:module');
    const hooks = createRequire(import.meta.url)(file) as { setupRequest: (r: object, c: object) => { path: string }; onResponse: unknown };
    expect(typeof hooks.onResponse).toBe('function');
    expect(hooks.setupRequest({}, {}).path).toMatch(/^\/api\/users/);
  });
});

describe('scenario files', () => {
  it('parses YAML with placeholders, weights, groups and automatic auth', () => {
    const yaml = `
name: checkout
requests:
  - method: post
    path: /api/events
    weight: 3
    group: ingest
    body: { type: "checkout.{{run}}", data: { id: "{{uuid}}", n: "{{seq}}" } }
  - path: /api/users/me
    auth: true
  - path: /api/users
    method: POST
    auth: false
    body: { username: "x{{id}}" }
`;
    const scenario = parseCustomScenario(yaml, 'checkout.yaml');
    expect(scenario.name).toBe('checkout');
    expect(scenario.templates.map((t) => [t.method, t.group, t.weight])).toEqual([
      ['POST', 'ingest', 3],
      ['GET', 'GET /api/users/me', 1],
      ['POST', 'POST /api/users', 1],
    ]);
    expect(scenario.templates[0]!.headers).toEqual({ 'content-type': 'application/json', authorization: 'Bearer {{token}}' });
    expect(scenario.templates[2]!.headers.authorization).toBeUndefined();
    const request = createGenerator({ scenario: 'c', runId: 'zz', templates: scenario.templates, identities: [{ userId: 'u', token: 'tok' }] }, () => undefined).next();
    const body = JSON.parse(request.body!) as { type: string; data: { id: string; n: string } };
    expect(body.type).toBe('checkout.zz');
    expect(body.data.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.data.n).toBe('1');
  });

  it('rejects unknown placeholders and malformed files with a usage error', () => {
    expect(() => parseCustomScenario('requests: [{ path: "/api/{{nope}}" }]', 'x.yaml')).toThrow(/unknown placeholder \{\{nope\}\}/);
    expect(() => parseCustomScenario('requests: []', 'x.yaml')).toThrow(MsctlError);
    expect(() => parseCustomScenario('{"requests": [{"path": "no-slash"}]}', 'x.json')).toThrow(/must start with \//);
  });
});

describe('server side from /metrics', () => {
  const text = (requests: number, state: number, opens: number, dead = 0) => `# HELP http_request_duration_seconds x
kafka_dead_letters_total{topic="events.processed",group="analytics",class="data",service="users"} ${dead}
http_request_duration_seconds_count{method="GET",route="/users/me",status_code="200",service="users"} ${requests}
http_request_duration_seconds_count{method="GET",route="/health",status_code="200",service="users"} 999
http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404",service="users"} 5
circuit_breaker_state{breaker="postgres",service="users"} ${state}
circuit_breaker_events_total{breaker="postgres",event="open",service="users"} ${opens}
circuit_breaker_events_total{breaker="postgres",event="success",service="users"} 10
kafka_messages_produced_total{topic="users.events",service="users"} 7
`;
  it('counts served requests (not probes), breaker states and state-change events', () => {
    const before = snapshotOf(parsePrometheus(text(100, 0, 0)));
    expect(before).toMatchObject({ requests: 100, kafkaProduced: 7, breakers: { postgres: 'closed' } });
    const after = snapshotOf(parsePrometheus(text(300, 2, 1, 3)));
    const side = diffSnapshots({ users: before }, { users: after }, 2);
    expect(side.services.users).toEqual({ requests: 200, requestsPerSecond: 100, kafkaProduced: 0, reachable: true, deadLetters: 3 });
    expect(side.breakers.states['users/postgres']).toEqual({ before: 'closed', after: 'open' });
    expect(side.breakers.events['users/postgres']).toEqual({ open: 1, halfOpen: 0, close: 0 });
  });

  it('names the consumer groups that are stalled or stopped at the end, from /health (503 bodies too)', async () => {
    const bodies: Record<string, string> = {
      'http://a/health': JSON.stringify({
        status: 'warn',
        checks: {
          'kafka:connection': [{ status: 'pass' }],
          'kafka:consumer:analytics': [{ status: 'warn', output: 'stalled on events.processed[1] at offset 731 for 40 s: boom' }],
        },
      }),
      'http://b/health': JSON.stringify({ status: 'pass', checks: { 'kafka:consumer:notifications': [{ status: 'pass' }] } }),
      'http://c/health': 'not json',
    };
    const problems = await consumerProblems({ analytics: 'http://a/health', notifications: 'http://b/health', broken: 'http://c/health' }, async (url) => bodies[url]!);
    expect(problems).toEqual([{ service: 'analytics', group: 'analytics', status: 'warn', output: 'stalled on events.processed[1] at offset 731 for 40 s: boom' }]);
  });

  it('parses escaped label values', () => {
    expect(parsePrometheus('m{a="x\\"y",b="1"} 2')).toEqual([{ name: 'm', labels: { a: 'x"y', b: '1' }, value: 2 }]);
  });
});

const group = (overrides: Partial<GroupResult> & { p99?: number }): GroupResult => ({
  requests: 100,
  ok: 100,
  requestsPerSecond: 100,
  okPerSecond: 100,
  eventsAccepted: 0,
  eventsPerSecond: 0,
  latency: { p50: 1, p90: 2, p99: overrides.p99 ?? 3, p999: 4, max: 5, mean: 1, count: 100 },
  statusCodes: { 200: 100 },
  ...overrides,
});

describe('SLOs', () => {
  it('judges only the groups a run sent to; throughput counts 2xx', () => {
    const verdict = evaluateSlos(DEFAULT_SLOS, { users: group({ okPerSecond: 3_000, p99: 100 }) }, group({}), 'default');
    expect(verdict.ok).toBe(true);
    expect(verdict.checks.map((c) => c.group)).toEqual(['users', 'users']);
    const slow = evaluateSlos(DEFAULT_SLOS, { users: group({ okPerSecond: 3_000, p99: 121 }) }, group({}), 'default');
    expect(slow.ok).toBe(false);
    expect(slow.violations).toEqual(['users p99 121 ms (objective ≤ 120 ms)']);
  });

  it('reads a YAML table and rejects unknown objectives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msctl-slo-'));
    await writeFile(join(dir, 'ok.yaml'), 'all: { p99Ms: 0.001, maxErrorRate: 0.5 }\n');
    await writeFile(join(dir, 'bad.yaml'), 'all: { p98Ms: 3 }\n');
    expect(await loadSloFile(join(dir, 'ok.yaml'))).toEqual({ all: { p99Ms: 0.001, maxErrorRate: 0.5 } });
    await expect(loadSloFile(join(dir, 'bad.yaml'))).rejects.toThrow(/not a valid SLO table/);
    const verdict = evaluateSlos({ all: { p99Ms: 0.001 } }, {}, group({}), 'x');
    expect(verdict.ok).toBe(false);
  });
});

describe('recorder', () => {
  it('HDR percentiles in ms, status codes and errors by code, per group and per second', () => {
    const recorder = new Recorder(0);
    for (let i = 1; i <= 1_000; i++) recorder.record('users', 200, i / 10, 0, undefined, 10);
    recorder.record('ingest', 202, 5, 50, undefined, 1_500);
    recorder.record('ingest', 429, 1, 0, undefined, 1_600);
    recorder.record('ingest', 0, 0, 0, 'ECONNRESET', 1_700);
    const latency = recorder.latency();
    expect(latency.p50).toBeCloseTo(50, 0);
    expect(latency.p99).toBeCloseTo(99, 0);
    expect(latency.max).toBeCloseTo(100, 0);
    expect(latency.p999).toBeLessThanOrEqual(latency.max);
    const groups = recorder.groupResults(2);
    expect(groups.ingest!.statusCodes).toEqual({ 202: 1, 429: 1, 'error:ECONNRESET': 1 });
    expect(groups.ingest!.eventsPerSecond).toBe(25);
    expect(Object.fromEntries(recorder.errorsByCode)).toEqual({ ECONNRESET: 1 });
    expect(recorder.timeline().map((s) => s.requests)).toEqual([1_000, 3]);
    expect(recorder.histogram().reduce((sum, b) => sum + b.count, 0)).toBe(1_002);
  });
});

describe('HTML report', () => {
  it('is self-contained: no scripts, no external resources, escapes what it shows', () => {
    const recorder = new Recorder(0);
    recorder.record('users', 200, 3, 0, undefined, 100);
    const result = {
      scenario: '<script>alert(1)</script>',
      runId: 'r',
      target: 'http://127.0.0.1:1',
      model: 'closed',
      modelDescription: 'closed model',
      generator: 'autocannon',
      startedAt: new Date(0).toISOString(),
      durationSeconds: 1,
      warmupSeconds: 0,
      connections: 1,
      workers: null,
      rate: null,
      users: 1,
      rateLimit: { perSecondPerClient: 100, clients: 1, raised: false, source: 'header' },
      totals: { requests: 1, ok: 1, requestsPerSecond: 1, okPerSecond: 1, eventsAccepted: 0, eventsPerSecond: 0, non2xx: 0, errors: 0, errorsByCode: {}, statusCodes: { 200: 1 }, late: null, unanswered: 0 },
      latency: recorder.latency(),
      groups: recorder.groupResults(1),
      timeline: recorder.timeline(),
      histogram: recorder.histogram(),
      server: { services: {}, breakers: { states: {}, changes: [], events: {} }, consumers: [] },
      slo: evaluateSlos(DEFAULT_SLOS, recorder.groupResults(1), group({}), 'default'),
      ingestCheck: { ran: false, reason: 'none', types: [], accepted: 0, counted: null, ok: true, waitedMs: 0 },
      machine: { cpus: 2, node: 'v24' },
    } satisfies LoadResult;
    const html = renderHtmlReport(result);
    expect(html).not.toMatch(/<script|<link|@import|url\(|src=|href=/i);
    expect(html).toContain('&lt;script&gt;');
    expect(html.match(/<svg /g)).toHaveLength(3);
    expect(html).toContain('SLO fail');
  });
});
