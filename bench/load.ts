/**
 * bench/load: peers side by side on one throwaway stack (its own Kafka and PostgreSQL, started
 * with `msctl up -d`, torn down at the end), each pair run in alternating order for several
 * rounds; medians and ratios.
 *
 *   gateway-vs-direct       GET /api/users/me through the gateway vs GET /users/me on the users
 *                           service itself (same generator, same connections, same duration)
 *   gateway-vs-bare-proxy   the same through the gateway vs through bench/bare-proxy.ts, the least a
 *                           Node proxy does (node:http + undici): the floor for the gateway's ratio
 *   ingest-vs-kafkajs       POST /api/events batches of 50 through msctl (gateway → data-processing
 *                           → Kafka acks=all) vs a raw kafkajs producer sending batches of 50,
 *                           idempotent, acks=all, into the same topic (events.raw, so that the
 *                           pipeline behind it works on both alike), as many sends in flight
 *   generator-vs-autocannon `msctl load-test` (a one-request custom scenario) vs the plain
 *                           autocannon CLI (`npx autocannon`) on the same URL, token and connections
 *   seed-table              every row of the seed's SLO table (src/load/slo.ts) measured with
 *                           `msctl load-test <users|ingest|notifications|analytics> --json` and the default SLOs,
 *                           beside the seed's figure; the generator's own CPU is measured too
 *
 *   npm run bench [-- --rounds 3 --seconds 5 --connections 16 --stack-warmup 60 --warmup 3 --only seed-table,gateway-vs-direct]
 *
 * The stack is warmed up first (--stack-warmup seconds of each seed-table scenario), whichever
 * benchmarks --only picks, so that every one of them measures a warm stack.
 *
 * Writes bench/results/<name>.json for each and bench/results/SUMMARY.md (from every result file
 * there, so pairs not run this time keep their last figures). The gateway's rate limit is raised
 * for the stack (.msctl/settings.json) so that it is not what is measured.
 *
 * The other benchmark scripts (pipeline, soak) import the stack, load-test and summary helpers
 * from here.
 */
import { execa, type ResultPromise } from 'execa';
import { Kafka, logLevel } from 'kafkajs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, join } from 'node:path';
import { driveClosed } from '../src/load/closed';
import { defaultDeps, prepareUsers } from '../src/load/run';
import { Recorder } from '../src/load/recorder';
import { BATCH_SIZE, builtInScenario, type BuiltInScenario } from '../src/load/scenarios';
import { DEFAULT_SLOS } from '../src/load/slo';
import type { LoadResult, Plan, RequestTemplate, SloCheck } from '../src/load/types';
import { ASSERTION_HEADER, AssertionSigner } from '../services/kit/src/auth';
import { writeStackSettings } from '../src/stack/project';
import { ensureSecrets } from '../src/stack/secrets';
import { connectTopicsKafka } from '../src/infra/kafka/client';
import { findFreePort } from '../src/infra/ports';
import { createThrowawayProject, type ThrowawayProject } from '../test/support/throwaway-project';
import { drain } from './lag';
import { cpuSecondsOf } from './proc';

const repoRoot = process.cwd();
export const resultsDir = join(repoRoot, 'bench', 'results');

export const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const textArg = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};
const rounds = arg('rounds', 3);
const seconds = arg('seconds', 5);
const connections = arg('connections', 16);
/**
 * Seconds of each seed-table scenario run before the measured rounds. Kafka's JVM compiles its
 * hot paths (C2) for the first minutes under load: a 60 s ingest run on a fresh stack measured
 * 2,684 events/s, the next two 5,220 and 5,783, with Kafka's CPU per event 204 → 58 → 36 µs.
 */
const stackWarmupSeconds = arg('stack-warmup', 60);
/**
 * Each measured round's own warm-up (`load-test --warmup`): every round is a new generator
 * process, whose V8 starts cold on the same cores, as do its connections. On one warm stack,
 * 5 s of `load-test notifications` alternated without and with 3 s of warm-up measured
 * 1,758–1,927 and 1,927–2,019 req/s (a 20 s run: 1,991).
 */
const roundWarmupSeconds = arg('warmup', 3);

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
export const round2 = (n: number) => Math.round(n * 100) / 100;
export const log = (text: string) => process.stderr.write(`${text}\n`);
export const machine = () => ({ cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version });

/** Least-squares slope of y over x; null without two distinct x. */
export function slope(points: Array<{ x: number; y: number }>): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((sum, p) => sum + p.x, 0) / points.length;
  const my = points.reduce((sum, p) => sum + p.y, 0) / points.length;
  const sxx = points.reduce((sum, p) => sum + (p.x - mx) ** 2, 0);
  return sxx === 0 ? null : points.reduce((sum, p) => sum + (p.x - mx) * (p.y - my), 0) / sxx;
}

// ------------------------------------------------------------------------------- the stack

function msctlIn(project: ThrowawayProject, timeoutMs: number) {
  return (args: string[]) =>
    execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], {
      env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
      timeout: timeoutMs,
    });
}
export type Msctl = ReturnType<typeof msctlIn>;
export interface Stack {
  project: ThrowawayProject;
  msctl: Msctl;
  gateway: string;
  kafkaBroker: string;
}

/** Runs `work` on a fresh throwaway stack, rate limit raised, and tears it down whatever happens. `timeoutMs` bounds each msctl call (0: none). */
export async function withThrowawayStack<T>(work: (stack: Stack) => Promise<T>, timeoutMs = 0): Promise<T> {
  const project = await createThrowawayProject(repoRoot);
  const msctl = msctlIn(project, timeoutMs);
  try {
    // Per-stack setting: the rate limit is not what these benchmarks measure.
    writeStackSettings(join(project.dir, '.msctl'), { rateLimitPerSecond: 1_000_000 });
    log('starting a throwaway stack (msctl up -d)…');
    const up = await msctl(['up', '-d']);
    if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);
    return await work({ project, msctl, gateway: `http://127.0.0.1:${project.ports.gateway}`, kafkaBroker: `127.0.0.1:${project.env.MSCTL_KAFKA_PORT}` });
  } finally {
    await msctl(['down', '-v']);
    await project.remove();
  }
}

// ----------------------------------------------------------------------- msctl load-test


export interface LoadRun {
  result: LoadResult;
  exitCode: number;
  /** CPU the load-test process itself used while it measured, in % of one core (it shares the cores with the stack). */
  generatorCpuPercent: number | null;
}

/** `msctl load-test <args> --json`: its result, exit code (3 = an SLO missed, 1 = the ingest check failed) and its own CPU over the measured window. */
export async function loadTest(msctl: Msctl, args: string[]): Promise<LoadRun> {
  const child = msctl(['load-test', ...args, '--json']);
  const samples: Array<{ at: number; cpu: number }> = [];
  // Sampled from outside so that the window is the measured phase alone: sign-ups before it
  // and the ingest check after it would dilute a whole-process figure.
  const timer = setInterval(() => {
    const cpu = child.pid === undefined ? null : cpuSecondsOf(child.pid);
    if (cpu !== null) samples.push({ at: Date.now(), cpu });
  }, 200);
  const done = await child.finally(() => clearInterval(timer));
  const parsed = String(done.stdout)
    .split('\n')
    .map((line) => {
      try {
        return JSON.parse(line) as Partial<LoadResult>;
      } catch {
        return undefined;
      }
    })
    .find((value) => value?.runId !== undefined);
  if (!parsed) throw new Error(`msctl load-test ${args.join(' ')} exited ${done.exitCode} without a result:\n${done.stdout}\n${done.stderr}`);
  const result = parsed as LoadResult;
  const start = Date.parse(result.startedAt);
  const end = start + result.durationSeconds * 1000;
  // The last readings before the window opens and before it closes: the process may exit too
  // soon after the window for a reading past its end.
  const from = samples.findLast((s) => s.at <= start) ?? samples[0];
  const to = samples.findLast((s) => s.at <= end);
  const generatorCpuPercent = from && to && to.at - from.at >= 1000 ? Math.round(((to.cpu - from.cpu) / ((to.at - from.at) / 1000)) * 100) : null;
  return { result, exitCode: done.exitCode ?? -1, generatorCpuPercent };
}

// ------------------------------------------------------------------------------- pairs

interface Measure {
  perSecond: number;
  p99Ms: number | null;
  p50Ms: number | null;
}
interface Pair {
  benchmark: string;
  description: string;
  unit: string;
  a: { name: string; rounds: Measure[] };
  b: { name: string; rounds: Measure[] };
}

async function pair(benchmark: string, description: string, unit: string, a: [string, () => Promise<Measure>], b: [string, () => Promise<Measure>]): Promise<Pair> {
  const result: Pair = { benchmark, description, unit, a: { name: a[0], rounds: [] }, b: { name: b[0], rounds: [] } };
  for (let i = 0; i < rounds; i++) {
    // Alternate the order so that warm-up and drift do not favour one side.
    const order = i % 2 === 0 ? [a, b] : [b, a];
    for (const [name, run] of order) {
      const measure = await run();
      (name === a[0] ? result.a : result.b).rounds.push(measure);
      log(`${benchmark} round ${i + 1}/${rounds}: ${name} ${round2(measure.perSecond)} ${unit}, p99 ${measure.p99Ms ?? '-'} ms`);
    }
  }
  return result;
}

function summarizePair(p: Pair) {
  const side = (s: Pair['a']) => ({
    name: s.name,
    medianPerSecond: round2(median(s.rounds.map((r) => r.perSecond))),
    medianP50Ms: s.rounds.every((r) => r.p50Ms !== null) ? round2(median(s.rounds.map((r) => r.p50Ms!))) : null,
    medianP99Ms: s.rounds.every((r) => r.p99Ms !== null) ? round2(median(s.rounds.map((r) => r.p99Ms!))) : null,
    rounds: s.rounds,
  });
  const a = side(p.a);
  const b = side(p.b);
  return {
    benchmark: p.benchmark,
    description: p.description,
    unit: p.unit,
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    settings: { rounds, seconds, connections },
    a,
    b,
    ratio: { perSecond: round2(a.medianPerSecond / b.medianPerSecond), p99: a.medianP99Ms !== null && b.medianP99Ms ? round2(a.medianP99Ms / b.medianP99Ms) : null, meaning: `${a.name} ÷ ${b.name}` },
  };
}
type PairSummary = ReturnType<typeof summarizePair>;

async function closedRun(baseUrl: string, templates: RequestTemplate[], identities: Plan['identities'], c = connections): Promise<{ recorder: Recorder; seconds: number }> {
  const recorder = new Recorder();
  const outcome = await driveClosed({ baseUrl, plan: { scenario: 'bench', runId: 'bench', templates, identities }, durationSeconds: seconds, connections: c, timeoutSeconds: 10, recorder });
  return { recorder, seconds: outcome.durationSeconds };
}

/** A bench process (bare proxy, bare service) once it printed that it listens; rejects if it exits first. */
function listening(child: ResultPromise): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    void child.then((ended) => reject(new Error(`${ended.command} exited: ${ended.stderr}`)));
  });
}

// --------------------------------------------------------------------------- seed table

/**
 * Which built-in scenario measures each group of the seed's table: each row alone, as the table
 * states them (`msctl load-test read` runs both reads at once, sharing the cores).
 */
const SEED_SCENARIOS: Record<string, BuiltInScenario> = { users: 'users', ingest: 'ingest', notifications: 'notifications', analytics: 'analytics' };
const UNITS: Record<SloCheck['metric'], string> = { rps: 'req/s', eventsPerSecond: 'events/s', p50Ms: 'ms', p90Ms: 'ms', p99Ms: 'ms', p999Ms: 'ms', maxErrorRate: '' };

interface SeedRow {
  group: string;
  scenario: BuiltInScenario;
  metric: SloCheck['metric'];
  unit: string;
  kind: SloCheck['kind'];
  seed: number;
  /** Median over the rounds; null when the group got no requests. */
  measured: number | null;
  /** The same figure in the warm-up run: the fresh stack's first minute. */
  fresh: number | null;
  /** measured ÷ seed: above 1 is better for throughput, below 1 for latency. */
  ratio: number | null;
  meetsSeed: boolean;
  rounds: Array<number | null>;
}

const SEED_TABLE_SCENARIOS = [...new Set(Object.keys(DEFAULT_SLOS).map((group) => SEED_SCENARIOS[group]!))];

/**
 * The stack's warm-up, before any benchmark measures: each seed-table scenario for
 * stackWarmupSeconds. Every pair runs on the warm stack too; on a fresh one, the first pair's
 * rounds rose as Kafka, PostgreSQL and the services compiled (direct: 1,609 → 2,006 → 2,288 req/s).
 */
async function warmUpStack(msctl: Msctl): Promise<Map<BuiltInScenario, LoadRun>> {
  log(`warming the stack up: ${stackWarmupSeconds} s of each of ${SEED_TABLE_SCENARIOS.join(', ')} (the fresh stack's figures, beside the seed table's)`);
  const warmUps = new Map<BuiltInScenario, LoadRun>();
  if (stackWarmupSeconds <= 0) return warmUps;
  for (const scenario of SEED_TABLE_SCENARIOS) warmUps.set(scenario, await loadTest(msctl, [scenario, '--duration', String(stackWarmupSeconds), '--connections', String(connections)]));
  return warmUps;
}

async function seedTable(msctl: Msctl, warmUps: Map<BuiltInScenario, LoadRun>) {
  const scenarios = SEED_TABLE_SCENARIOS;
  const args = (scenario: string) => [scenario, '--duration', String(seconds), '--connections', String(connections), '--warmup', String(roundWarmupSeconds)];
  const runs = new Map<BuiltInScenario, LoadRun[]>(scenarios.map((s) => [s, []]));
  for (let i = 0; i < rounds; i++) {
    // Rotate the order so that no scenario always runs on the heels of the same one.
    for (const scenario of [...scenarios.slice(i % scenarios.length), ...scenarios.slice(0, i % scenarios.length)]) {
      const run = await loadTest(msctl, args(scenario));
      const t = run.result.totals;
      log(
        `seed-table round ${i + 1}/${rounds}: ${scenario} exit ${run.exitCode}, ${t.okPerSecond} 2xx/s, ${t.eventsPerSecond} events/s, non-2xx ${t.non2xx}, errors ${t.errors}, generator ${run.generatorCpuPercent ?? '?'} % of a core`,
      );
      runs.get(scenario)!.push(run);
    }
  }

  const rows: SeedRow[] = [];
  for (const [group, objective] of Object.entries(DEFAULT_SLOS)) {
    const scenario = SEED_SCENARIOS[group]!;
    for (const metric of Object.keys(objective) as Array<SloCheck['metric']>) {
      const checks = runs.get(scenario)!.map((run) => run.result.slo.checks.find((c) => c.group === group && c.metric === metric));
      const seed = objective[metric]!;
      const kind = checks.find((c) => c)?.kind ?? (metric === 'rps' || metric === 'eventsPerSecond' ? 'min' : 'max');
      const values = checks.map((c) => c?.actual ?? null);
      const present = values.filter((v): v is number => v !== null);
      const measured = present.length === values.length ? round2(median(present)) : null;
      const fresh = warmUps.get(scenario)?.result.slo.checks.find((c) => c.group === group && c.metric === metric)?.actual ?? null;
      rows.push({
        group,
        scenario,
        metric,
        unit: UNITS[metric],
        kind,
        seed,
        measured,
        fresh: fresh === null ? null : round2(fresh),
        ratio: measured === null ? null : round2(measured / seed),
        meetsSeed: measured !== null && (kind === 'min' ? measured >= seed : measured <= seed),
        rounds: values,
      });
    }
  }
  const ingestRuns = runs.get('ingest') ?? [];
  const ingestCheck = {
    ok: ingestRuns.length > 0 && ingestRuns.every((run) => run.result.ingestCheck.ok),
    rounds: ingestRuns.map((run) => ({ accepted: run.result.ingestCheck.accepted, counted: run.result.ingestCheck.counted, ok: run.result.ingestCheck.ok })),
  };
  const generator = Object.fromEntries(
    scenarios.map((scenario) => {
      const percents = runs.get(scenario)!.flatMap((run) => (run.generatorCpuPercent === null ? [] : [run.generatorCpuPercent]));
      return [scenario, { medianCpuPercentOfCore: percents.length ? Math.round(median(percents)) : null, rounds: percents }];
    }),
  );
  const met = rows.filter((row) => row.meetsSeed).length;
  return {
    benchmark: 'seed-table',
    description: `every row of the seed's SLO table (src/load/slo.ts) measured with \`msctl load-test <scenario> --json\` and the default SLOs: closed model, ${connections} connections, ${seconds} s, medians of ${rounds} round${rounds === 1 ? '' : 's'} (each after ${roundWarmupSeconds} s of its own warm-up), after ${stackWarmupSeconds} s of each scenario on the fresh stack (its figures in the "fresh stack" column)`,
    when: new Date().toISOString(),
    machine: machine(),
    // 16 is this bench's default (and the README's load-test example); the CLI's default of 10
    // is not tied to the seed's table anywhere.
    settings: { rounds, seconds, connections, stackWarmupSeconds, roundWarmupSeconds, model: 'closed' },
    summary: `${met} of ${rows.length} figures meet the seed's; ingest check ${ingestCheck.ok ? 'passed' : 'FAILED'}`,
    rows,
    ingestCheck,
    generator,
    runs: Object.fromEntries(
      [...runs].map(([scenario, list]) => [
        scenario,
        list.map((run) => ({ exitCode: run.exitCode, totals: run.result.totals, groups: run.result.groups, slo: run.result.slo, ingestCheck: run.result.ingestCheck, generatorCpuPercent: run.generatorCpuPercent })),
      ]),
    ),
  };
}
type SeedTable = Awaited<ReturnType<typeof seedTable>>;

const figure = (value: number | null, unit: string) => (value === null ? '-' : `${value.toLocaleString('en-US')}${unit ? ` ${unit}` : ''}`);
function seedRowLine(row: SeedRow): string {
  return `${row.group} ${row.metric} (${row.scenario}): measured ${figure(row.measured, row.unit)} (fresh stack ${figure(row.fresh ?? null, row.unit)}) · seed ${row.kind === 'min' ? '≥' : '≤'} ${figure(row.seed, row.unit)} · ratio ${row.ratio ?? '-'} ${row.meetsSeed ? '✔' : '✘'}`;
}

// ----------------------------------------------------------------------------- SUMMARY.md

const PAIRS = ['gateway-vs-direct', 'gateway-vs-bare-proxy', 'notifications-vs-bare-stack', 'bare-stack-vs-bare-service', 'ingest-vs-kafkajs', 'generator-vs-autocannon'] as const;
const BENCHMARKS = [...PAIRS, 'seed-table'] as const;

/** Rewrites SUMMARY.md from every result file in bench/results (the other scripts call it after writing theirs). */
export async function writeSummary(): Promise<string> {
  await mkdir(resultsDir, { recursive: true });
  const files = (await readdir(resultsDir)).filter((f) => f.endsWith('.json')).sort();
  const read = async <T>(file: string) => JSON.parse(await readFile(join(resultsDir, file), 'utf8')) as T;
  const pairs: PairSummary[] = [];
  for (const name of PAIRS) if (files.includes(`${name}.json`)) pairs.push(await read<PairSummary>(`${name}.json`));
  const m = machine();
  const lines = ['# Benchmarks', '', `Machine: ${m.cpus} cores (${m.model}), Node ${m.node}. Load generator and stack share these cores.`];
  if (pairs.length) {
    lines.push(
      '',
      'Pairs: medians of their rounds, alternating order.',
      '',
      '| benchmark | A | B | A median | B median | A ÷ B | p99 A / B (ms) |',
      '|---|---|---|---|---|---|---|',
      ...pairs.map(
        (s) => `| ${s.benchmark} | ${s.a.name} | ${s.b.name} | ${s.a.medianPerSecond} ${s.unit} | ${s.b.medianPerSecond} ${s.unit} | ${s.ratio.perSecond} | ${s.a.medianP99Ms ?? '-'} / ${s.b.medianP99Ms ?? '-'} |`,
      ),
      '',
      ...pairs.map((s) => `- **${s.benchmark}**: ${s.description} (${s.settings.rounds} rounds, ${s.when}).`),
    );
  }
  if (files.includes('seed-table.json')) {
    const seed = await read<SeedTable>('seed-table.json');
    lines.push(
      '',
      '## Seed table',
      '',
      `${seed.description} (${seed.when}). ${seed.summary}.`,
      '',
      '| group | figure | scenario | measured | seed | measured ÷ seed | meets the seed | fresh stack |',
      '|---|---|---|---|---|---|---|---|',
      ...seed.rows.map(
        (r) =>
          `| ${r.group} | ${r.metric} | ${r.scenario} | ${figure(r.measured, r.unit)} | ${r.kind === 'min' ? '≥' : '≤'} ${figure(r.seed, r.unit)} | ${r.ratio ?? '-'} | ${r.meetsSeed ? 'yes' : 'no'} | ${figure(r.fresh ?? null, r.unit)} |`,
      ),
      '',
      `Ingest check (analytics counted == accepted): ${seed.ingestCheck.rounds.map((r) => `${r.counted ?? 'none'}/${r.accepted}`).join(', ')} — ${seed.ingestCheck.ok ? 'passed' : 'FAILED'}.`,
      `Generator CPU while measuring (median, % of one core): ${Object.entries(seed.generator)
        .map(([scenario, g]) => `${scenario} ${g.medianCpuPercentOfCore ?? '?'} %`)
        .join(', ')}.`,
    );
  }
  const others = files.filter((f) => !(BENCHMARKS as readonly string[]).includes(f.replace(/\.json$/, '')));
  if (others.length) {
    lines.push('', '## Other result files', '');
    for (const file of others) {
      const data = await read<Record<string, unknown>>(file);
      const headline = data.summary ?? data.warm ?? data.ratio ?? null;
      lines.push(`- \`${file}\` (${String(data.when ?? 'unknown time')}): ${typeof headline === 'string' ? headline : headline ? JSON.stringify(headline) : 'see the file'}`);
    }
  }
  const text = `${lines.join('\n')}\n`;
  await writeFile(join(resultsDir, 'SUMMARY.md'), text);
  return text;
}

// ------------------------------------------------------------------------------------ main

async function main() {
  const only = textArg('only')?.split(',').map((name) => name.trim()) ?? [...BENCHMARKS];
  const unknown = only.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
  if (unknown.length) throw new Error(`--only: unknown ${unknown.join(', ')}; the benchmarks are ${BENCHMARKS.join(', ')}`);
  const selected = (name: (typeof BENCHMARKS)[number]) => only.includes(name);

  const results: Array<PairSummary | SeedTable> = [];
  await withThrowawayStack(async ({ project, msctl, gateway, kafkaBroker }) => {
    const identities = await prepareUsers(defaultDeps, gateway, 'bench', 4);
    const warmUps = await warmUpStack(msctl);
    const measureOf = ({ recorder, seconds: s }: { recorder: Recorder; seconds: number }): Measure => {
      if (recorder.ok !== recorder.requests) throw new Error(`non-2xx answers in a benchmark round: ${JSON.stringify(Object.fromEntries(recorder.statusCodes))}`);
      const latency = recorder.latency();
      return { perSecond: recorder.ok / s, p50Ms: latency.p50, p99Ms: latency.p99 };
    };
    // Straight to a service, a request must carry what the gateway would add: its assertion,
    // minted here with the stack's own key (as the gateway does, one per user, reused). Minted
    // for each round: an assertion lives 60 s, and the rounds of a pair take longer.
    const signer = new AssertionSigner((await ensureSecrets(join(project.dir, '.msctl'))).internalAuth.privateKey);
    const assertedFor = (audience: string) => () =>
      Promise.all(identities.map(async (identity) => ({ ...identity, token: await signer.sign(audience, { subject: identity.userId, username: null, scope: '', clientIp: '127.0.0.1' }) })));

    // 1. gateway vs direct, and vs a bare Node proxy
    if (selected('gateway-vs-direct') || selected('gateway-vs-bare-proxy')) {
      const me: RequestTemplate = { name: 'me', group: 'me', weight: 1, method: 'GET', path: '/api/users/me', headers: { authorization: 'Bearer {{token}}' } };
      const directIdentities = assertedFor('users');
      const direct: RequestTemplate = { name: 'me', group: 'me', weight: 1, method: 'GET', path: '/users/me', headers: { [ASSERTION_HEADER]: '{{token}}' } };
      await closedRun(gateway, [me], identities); // warm-up, not recorded
      if (selected('gateway-vs-bare-proxy')) {
        // The floor for any Node proxy on these cores: the gateway's own work is what lies above it.
        const port = await findFreePort();
        const proxy = execa(process.execPath, [join(repoRoot, 'scripts', 'run-ts.mjs'), join(repoRoot, 'bench', 'bare-proxy.ts'), String(port), `http://127.0.0.1:${project.ports.users}`, '/api'], { cwd: repoRoot, reject: false });
        await listening(proxy);
        const viaProxy: RequestTemplate = { ...me, headers: { authorization: 'Bearer {{token}}' } };
        try {
          await closedRun(`http://127.0.0.1:${port}`, [viaProxy], await directIdentities()); // warm-up, not recorded
          results.push(
            summarizePair(
              await pair(
                'gateway-vs-bare-proxy',
                `GET /api/users/me through the gateway vs through a bare Node proxy (node:http + one undici Pool, bench/bare-proxy.ts: no token check, breaker, metrics, logs or tracing) to the same users service; msctl's generator, ${connections} connections, ${seconds} s`,
                'req/s',
                ['gateway', async () => measureOf(await closedRun(gateway, [me], identities))],
                ['bare proxy', async () => measureOf(await closedRun(`http://127.0.0.1:${port}`, [viaProxy], await directIdentities()))],
              ),
            ),
          );
        } finally {
          proxy.kill();
          await proxy;
        }
      }
      if (selected('gateway-vs-direct')) results.push(
        summarizePair(
          await pair(
            'gateway-vs-direct',
            `GET /api/users/me through the gateway vs GET /users/me on the users service; msctl's generator, ${connections} connections, ${seconds} s`,
            'req/s',
            ['gateway', async () => measureOf(await closedRun(gateway, [me], identities))],
            ['direct', async () => measureOf(await closedRun(`http://127.0.0.1:${project.ports.users}`, [direct], await directIdentities()))],
          ),
        ),
      );
    }

    // 1b. the notifications read through msctl vs a bare Node stack, and that stack vs its service alone
    if (selected('notifications-vs-bare-stack') || selected('bare-stack-vs-bare-service')) {
      const list = builtInScenario('notifications', 'bench')[0]!;
      const servicePort = await findFreePort();
      const proxyPort = await findFreePort();
      // Run as `msctl exec` runs it, with the notifications service's database role and schema.
      const service = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'exec', '--project-dir', project.dir, 'notifications', '--', process.execPath, join(repoRoot, 'scripts', 'run-ts.mjs'), join(repoRoot, 'bench', 'bare-read-service.ts'), String(servicePort)], {
        cwd: repoRoot,
        env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
        reject: false,
      });
      const proxy = execa(process.execPath, [join(repoRoot, 'scripts', 'run-ts.mjs'), join(repoRoot, 'bench', 'bare-proxy.ts'), String(proxyPort), `http://127.0.0.1:${servicePort}`, '/api'], { cwd: repoRoot, reject: false });
      await Promise.all([listening(service), listening(proxy)]);
      const asserted = assertedFor('notifications');
      const viaBareProxy: RequestTemplate = { ...list, headers: { authorization: 'Bearer {{token}}' } };
      const bareDirect: RequestTemplate = { ...list, path: list.path.replace(/^\/api/, ''), headers: { [ASSERTION_HEADER]: '{{token}}' } };
      const throughMsctl = async () => measureOf(await closedRun(gateway, [list], identities));
      const throughBareStack = async () => measureOf(await closedRun(`http://127.0.0.1:${proxyPort}`, [viaBareProxy], await asserted()));
      const bareServiceAlone = async () => measureOf(await closedRun(`http://127.0.0.1:${servicePort}`, [bareDirect], await asserted()));
      try {
        // The bare stack must do the same work: the same rows for the same user.
        const count = async (url: string, headers: Record<string, string>) => ((await (await fetch(url, { headers })).json()) as { notifications?: unknown[] }).notifications?.length;
        const [first] = identities;
        const viaMsctl = await count(`${gateway}${list.path}`, { authorization: `Bearer ${first!.token}` });
        const viaBare = await count(`http://127.0.0.1:${proxyPort}${list.path}`, { authorization: `Bearer ${(await asserted())[0]!.token}` });
        if (!viaMsctl || viaMsctl !== viaBare) throw new Error(`the bare stack answered ${viaBare} notifications where msctl answered ${viaMsctl}`);
        // Warm-ups, not recorded.
        await throughMsctl();
        await throughBareStack();
        await bareServiceAlone();
        const what = `GET /api/notifications?limit=20 (the seed table's notifications row), msctl's generator, ${connections} connections, ${seconds} s`;
        const bare = 'bench/bare-proxy.ts in front of bench/bare-read-service.ts (node:http, one pg Pool, the same query on the same table; no token check, validation, breaker, metrics, logs or tracing)';
        if (selected('notifications-vs-bare-stack')) {
          results.push(summarizePair(await pair('notifications-vs-bare-stack', `${what}: through msctl (gateway → notifications → PostgreSQL) vs through ${bare}`, 'req/s', ['msctl', throughMsctl], ['bare stack', throughBareStack])));
        }
        if (selected('bare-stack-vs-bare-service')) {
          results.push(summarizePair(await pair('bare-stack-vs-bare-service', `${what}: through ${bare} vs straight to the bare service (no proxy at all)`, 'req/s', ['bare stack', throughBareStack], ['bare service', bareServiceAlone])));
        }
      } finally {
        proxy.kill();
        service.kill();
        await Promise.all([proxy, service]);
      }
    }

    // 2. ingest through msctl vs a raw kafkajs producer, batches of BATCH_SIZE, acks=all
    if (selected('ingest-vs-kafkajs')) {
      const batch: RequestTemplate = {
        name: 'batch',
        group: 'ingest',
        weight: 1,
        method: 'POST',
        path: '/api/events',
        headers: { authorization: 'Bearer {{token}}', 'content-type': 'application/json' },
        body: JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, (_, i) => ({ type: 'bench.ingest', subject: '{{userId}}', data: { seq: '{{seq}}', i } })) }),
      };
      const ingestConnections = 8;
      const kafka = new Kafka({ clientId: 'msctl-bench', brokers: [kafkaBroker], logLevel: logLevel.NOTHING });
      const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      const rawProducer = async (): Promise<Measure> => {
        const recorder = new Recorder();
        const end = performance.now() + seconds * 1000;
        const started = performance.now();
        let seq = 0;
        const sender = async () => {
          while (performance.now() < end) {
            const t0 = performance.now();
            const messages = Array.from({ length: BATCH_SIZE }, (_, i) => {
              const id = crypto.randomUUID();
              const subject = identities[seq % identities.length]!.userId;
              return {
                key: subject,
                value: JSON.stringify({ specversion: '1.0', id, source: '/bench', type: 'bench.ingest', time: new Date().toISOString(), subject, datacontenttype: 'application/json', data: { seq: ++seq, i } }),
              };
            });
            // Into events.raw, as ingest's are: the pipeline downstream (data-processing,
            // analytics, notifications, PostgreSQL) does the same work for both sides.
            await producer.send({ topic: 'events.raw', acks: -1, messages });
            recorder.record('ingest', 202, performance.now() - t0, BATCH_SIZE);
          }
        };
        await Promise.all(Array.from({ length: ingestConnections }, sender));
        const latency = recorder.latency();
        return { perSecond: recorder.events / ((performance.now() - started) / 1000), p50Ms: latency.p50, p99Ms: latency.p99 };
      };
      const throughMsctl = async (): Promise<Measure> => {
        const { recorder, seconds: s } = await closedRun(gateway, [batch], identities, ingestConnections);
        if (recorder.ok !== recorder.requests) throw new Error(`non-2xx answers: ${JSON.stringify(Object.fromEntries(recorder.statusCodes))}`);
        const latency = recorder.latency();
        return { perSecond: recorder.events / s, p50Ms: latency.p50, p99Ms: latency.p99 };
      };
      // Neither side may start while the pipeline still works off the other's events.
      const topics = await connectTopicsKafka([kafkaBroker], 'msctl-bench-lag');
      const drained = (measure: () => Promise<Measure>) => async () => {
        if (!(await drain(topics))) throw new Error('the pipeline did not work off its backlog within 120 s');
        return measure();
      };
      await drained(throughMsctl)();
      await drained(rawProducer)();
      results.push(
        summarizePair(
          await pair(
            'ingest-vs-kafkajs',
            `events/s in batches of ${BATCH_SIZE}, ${ingestConnections} in flight: POST /api/events through msctl (gateway → data-processing → Kafka, acks=all) vs a raw kafkajs idempotent producer (acks=all) into the same topic (events.raw) of the same broker, so that the same pipeline consumes both; latency per batch`,
            'events/s',
            ['msctl ingest', drained(throughMsctl)],
            ['raw kafkajs', drained(rawProducer)],
          ),
        ),
      );
      await producer.disconnect();
      await topics.close();
    }

    // 3. msctl's load generator vs the autocannon CLI on the same target
    if (selected('generator-vs-autocannon')) {
      const scenarioFile = join(project.dir, 'bench-me.yaml');
      await writeFile(scenarioFile, 'name: me\nrequests:\n  - name: me\n    path: /api/users/me\n');
      const token = identities[0]!.token;
      const viaMsctl = async (): Promise<Measure> => {
        const { result: r, exitCode } = await loadTest(msctl, [scenarioFile, '--duration', String(seconds), '--connections', String(connections), '--users', '1']);
        if (exitCode !== 0 && exitCode !== 3) throw new Error(`msctl load-test exited ${exitCode}`);
        return { perSecond: r.totals.okPerSecond, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
      };
      const viaAutocannon = async (): Promise<Measure> => {
        const result = await execa('npx', ['--no-install', 'autocannon', '--json', '-c', String(connections), '-d', String(seconds), '-H', `authorization=Bearer ${token}`, `${gateway}/api/users/me`], { reject: false, cwd: repoRoot });
        if (result.exitCode !== 0) throw new Error(`autocannon failed: ${result.stderr}`);
        const r = JSON.parse(String(result.stdout)) as { requests: { total: number }; duration: number; non2xx: number; latency: { p50: number; p99: number } };
        if (r.non2xx > 0) throw new Error(`autocannon saw ${r.non2xx} non-2xx answers`);
        return { perSecond: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
      };
      results.push(
        summarizePair(
          await pair(
            'generator-vs-autocannon',
            `GET /api/users/me through the gateway, ${connections} connections, ${seconds} s: \`msctl load-test\` (custom scenario, closed model) vs \`npx autocannon\` (same token)`,
            'req/s',
            ['msctl load-test', viaMsctl],
            ['autocannon CLI', viaAutocannon],
          ),
        ),
      );
    }

    // 4. the seed's SLO table, row by row
    if (selected('seed-table')) {
      const table = await seedTable(msctl, warmUps);
      for (const row of table.rows) log(`seed-table ${seedRowLine(row)}`);
      log(`seed-table ingest check (analytics counted == accepted): ${table.ingestCheck.ok ? 'passed' : 'FAILED'} ${JSON.stringify(table.ingestCheck.rounds)}`);
      for (const [scenario, g] of Object.entries(table.generator)) log(`seed-table ${scenario}: generator used ${g.medianCpuPercentOfCore ?? '?'} % of a core`);
      results.push(table);
    }
  });

  await mkdir(resultsDir, { recursive: true });
  for (const result of results) await writeFile(join(resultsDir, `${result.benchmark}.json`), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(await writeSummary());
}

// run-ts bundles every entry point into <name>.mjs, so import.meta.url is the importer's bundle
// too: the script's name is what tells running this file from importing its helpers.
if (basename(process.argv[1] ?? '') === 'load.mjs') await main();
