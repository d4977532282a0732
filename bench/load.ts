/**
 * bench/load: peers side by side on one throwaway stack (its own Kafka and PostgreSQL, started
 * with `msctl up -d`, torn down at the end), each pair run in alternating order for several
 * rounds; medians and ratios.
 *
 *   gateway-vs-direct       GET /api/users/me through the gateway vs GET /users/me on the users
 *                           service itself (same generator, same connections, same duration)
 *   ingest-vs-kafkajs       POST /api/events batches of 50 through msctl (gateway → data-processing
 *                           → Kafka acks=all) vs a raw kafkajs producer sending batches of 50,
 *                           idempotent, acks=all, to the same broker, as many sends in flight
 *   generator-vs-autocannon `msctl load-test` (a one-request custom scenario) vs the plain
 *                           autocannon CLI (`npx autocannon`) on the same URL, token and connections
 *
 *   npm run bench [-- --rounds 3 --seconds 5 --connections 16]
 *
 * Writes bench/results/<name>.json for each and bench/results/SUMMARY.md (which also lists the
 * other benchmarks' result files found there). The gateway's rate limit is raised for the
 * stack (.msctl/settings.json) so that it is not what is measured.
 */
import { execa } from 'execa';
import { Kafka, logLevel } from 'kafkajs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { driveClosed } from '../src/load/closed';
import { defaultDeps, prepareUsers } from '../src/load/run';
import { Recorder } from '../src/load/recorder';
import { BATCH_SIZE } from '../src/load/scenarios';
import type { LoadResult, Plan, RequestTemplate } from '../src/load/types';
import { ASSERTION_HEADER, AssertionSigner } from '../services/kit/src/auth';
import { writeStackSettings } from '../src/stack/project';
import { ensureSecrets } from '../src/stack/secrets';
import { createThrowawayProject } from '../test/support/throwaway-project';

const repoRoot = process.cwd();
const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const rounds = arg('rounds', 3);
const seconds = arg('seconds', 5);
const connections = arg('connections', 16);
const resultsDir = join(repoRoot, 'bench', 'results');

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round2 = (n: number) => Math.round(n * 100) / 100;
const log = (text: string) => process.stderr.write(`${text}\n`);

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

async function closedRun(baseUrl: string, templates: RequestTemplate[], identities: Plan['identities'], c = connections): Promise<{ recorder: Recorder; seconds: number }> {
  const recorder = new Recorder();
  const outcome = await driveClosed({ baseUrl, plan: { scenario: 'bench', runId: 'bench', templates, identities }, durationSeconds: seconds, connections: c, timeoutSeconds: 10, recorder });
  return { recorder, seconds: outcome.durationSeconds };
}

const project = await createThrowawayProject(repoRoot);
const msctl = (args: string[]) =>
  execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], { env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' }, reject: false });

const summaries: Array<ReturnType<typeof summarizePair>> = [];
try {
  // Per-stack setting: the rate limit is not what these benchmarks measure.
  writeStackSettings(join(project.dir, '.msctl'), { rateLimitPerSecond: 1_000_000 });
  log('starting a throwaway stack (msctl up -d)…');
  const up = await msctl(['up', '-d']);
  if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);
  const gateway = `http://127.0.0.1:${project.ports.gateway}`;
  const identities = await prepareUsers(defaultDeps, gateway, 'bench', 4);
  const me: RequestTemplate = { name: 'me', group: 'me', weight: 1, method: 'GET', path: '/api/users/me', headers: { authorization: 'Bearer {{token}}' } };
  // Straight to users, a request must carry what the gateway would add: its assertion, minted
  // here with the stack's own key (as the gateway does, one per user, reused).
  const signer = new AssertionSigner((await ensureSecrets(join(project.dir, '.msctl'))).internalAuth.privateKey);
  const directIdentities = await Promise.all(
    identities.map(async (identity) => ({
      ...identity,
      token: await signer.sign('users', { subject: identity.userId, username: null, scope: '', clientIp: '127.0.0.1' }),
    })),
  );
  const direct: RequestTemplate = { name: 'me', group: 'me', weight: 1, method: 'GET', path: '/users/me', headers: { [ASSERTION_HEADER]: '{{token}}' } };
  const measureOf = ({ recorder, seconds: s }: { recorder: Recorder; seconds: number }): Measure => {
    if (recorder.ok !== recorder.requests) throw new Error(`non-2xx answers in a benchmark round: ${JSON.stringify(Object.fromEntries(recorder.statusCodes))}`);
    const latency = recorder.latency();
    return { perSecond: recorder.ok / s, p50Ms: latency.p50, p99Ms: latency.p99 };
  };

  // 1. gateway vs direct
  await closedRun(gateway, [me], identities); // warm-up, not recorded
  summaries.push(
    summarizePair(
      await pair(
        'gateway-vs-direct',
        `GET /api/users/me through the gateway vs GET /users/me on the users service; msctl's generator, ${connections} connections, ${seconds} s`,
        'req/s',
        ['gateway', async () => measureOf(await closedRun(gateway, [me], identities))],
        ['direct', async () => measureOf(await closedRun(`http://127.0.0.1:${project.ports.users}`, [direct], directIdentities))],
      ),
    ),
  );

  // 2. ingest through msctl vs a raw kafkajs producer, batches of BATCH_SIZE, acks=all
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
  const kafka = new Kafka({ clientId: 'msctl-bench', brokers: [`127.0.0.1:${project.env.MSCTL_KAFKA_PORT}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const rawMeta = await admin.fetchTopicMetadata({ topics: ['events.raw'] });
  const partitions = rawMeta.topics[0]!.partitions.length;
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: 'bench.kafkajs', numPartitions: partitions }] });
  await admin.disconnect();
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
        await producer.send({ topic: 'bench.kafkajs', acks: -1, messages });
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
  await throughMsctl();
  await rawProducer();
  summaries.push(
    summarizePair(
      await pair(
        'ingest-vs-kafkajs',
        `events/s in batches of ${BATCH_SIZE}, ${ingestConnections} in flight: POST /api/events through msctl (gateway → data-processing → Kafka, acks=all) vs a raw kafkajs idempotent producer (acks=all) on the same broker; latency per batch`,
        'events/s',
        ['msctl ingest', throughMsctl],
        ['raw kafkajs', rawProducer],
      ),
    ),
  );
  await producer.disconnect();

  // 3. msctl's load generator vs the autocannon CLI on the same target
  const scenarioFile = join(project.dir, 'bench-me.yaml');
  await writeFile(scenarioFile, 'name: me\nrequests:\n  - name: me\n    path: /api/users/me\n');
  const token = identities[0]!.token;
  const viaMsctl = async (): Promise<Measure> => {
    const result = await msctl(['load-test', scenarioFile, '--duration', String(seconds), '--connections', String(connections), '--users', '1', '--json']);
    if (result.exitCode !== 0 && result.exitCode !== 3) throw new Error(`msctl load-test failed: ${result.stderr}`);
    const r = JSON.parse(String(result.stdout).split('\n')[0]!) as LoadResult;
    return { perSecond: r.totals.okPerSecond, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
  };
  const viaAutocannon = async (): Promise<Measure> => {
    const result = await execa('npx', ['--no-install', 'autocannon', '--json', '-c', String(connections), '-d', String(seconds), '-H', `authorization=Bearer ${token}`, `${gateway}/api/users/me`], { reject: false, cwd: repoRoot });
    if (result.exitCode !== 0) throw new Error(`autocannon failed: ${result.stderr}`);
    const r = JSON.parse(String(result.stdout)) as { requests: { total: number }; duration: number; non2xx: number; latency: { p50: number; p99: number } };
    if (r.non2xx > 0) throw new Error(`autocannon saw ${r.non2xx} non-2xx answers`);
    return { perSecond: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99 };
  };
  summaries.push(
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
} finally {
  await msctl(['down', '-v']);
  await project.remove();
}

await mkdir(resultsDir, { recursive: true });
for (const summary of summaries) await writeFile(join(resultsDir, `${summary.benchmark}.json`), `${JSON.stringify(summary, null, 2)}\n`);

// SUMMARY.md: these pairs, plus a line for every other result file found.
const lines = [
  '# Benchmarks',
  '',
  `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}. Load generator and stack share these cores. Medians of ${rounds} rounds of ${seconds} s, alternating order.`,
  '',
  '| benchmark | A | B | A median | B median | A ÷ B | p99 A / B (ms) |',
  '|---|---|---|---|---|---|---|',
  ...summaries.map(
    (s) => `| ${s.benchmark} | ${s.a.name} | ${s.b.name} | ${s.a.medianPerSecond} ${s.unit} | ${s.b.medianPerSecond} ${s.unit} | ${s.ratio.perSecond} | ${s.a.medianP99Ms ?? '-'} / ${s.b.medianP99Ms ?? '-'} |`,
  ),
  '',
  ...summaries.map((s) => `- **${s.benchmark}**: ${s.description}.`),
];
const others = (await readdir(resultsDir)).filter((f) => f.endsWith('.json') && !summaries.some((s) => `${s.benchmark}.json` === f));
if (others.length) {
  lines.push('', '## Other result files', '');
  for (const file of others) {
    const data = JSON.parse(await readFile(join(resultsDir, file), 'utf8')) as Record<string, unknown>;
    const headline = data.warm ?? data.ratio ?? data.summary ?? null;
    lines.push(`- \`${file}\` (${String(data.when ?? 'unknown time')}): ${headline ? JSON.stringify(headline) : 'see the file'}`);
  }
}
await writeFile(join(resultsDir, 'SUMMARY.md'), `${lines.join('\n')}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
