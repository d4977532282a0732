/**
 * bench/tracing: the cost of tracing on ingestion. The data-processing service (its built
 * bundle, as the local runtime runs it) takes POST /events batches and produces them to Kafka
 * (acks=all), then consumes and re-produces them; once with tracing on (spans exported over
 * OTLP/HTTP JSON to msctl's trace receiver, as `msctl up` wires it) and once with
 * OTEL_SDK_DISABLED=true. Alternating rounds, autocannon closed model, medians, ratio. The
 * receiver runs in a process of its own (as in the supervisor), not beside autocannon.
 *
 *   npm run bench:tracing [-- --seconds 8 --rounds 5 --connections 16 --batch 10]
 *
 * Writes bench/results/tracing.json.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ASSERTION_HEADER, AssertionSigner, INGEST_SCOPE } from '../services/kit/src/auth';
import { startKafka } from '../src/infra/kafka/broker';
import { findFreePort } from '../src/infra/ports';
import { startTraceReceiver } from '../src/traces/receiver';
import { readSpans } from '../src/traces/store';
import { sleep } from '../src/core/sleep';

const repoRoot = process.cwd();
const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const seconds = arg('seconds', 8);
const rounds = arg('rounds', 5);
const connections = arg('connections', 16);
const batch = arg('batch', 10);
const log = (text: string) => process.stderr.write(`${text}\n`);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

// Receiver mode: `<this bundle> --receiver <dir>` prints its URL and serves until killed.
const receiverAt = process.argv.indexOf('--receiver');
if (receiverAt !== -1) {
  const receiver = await startTraceReceiver({ dir: process.argv[receiverAt + 1]!, token: process.env.BENCH_OTLP_TOKEN! });
  process.stdout.write(`${receiver.url}\n`);
  process.once('SIGTERM', () => void receiver.close().then(() => process.exit(0)));
  await new Promise(() => undefined);
}

const dir = await mkdtemp(join(tmpdir(), 'msctl-bench-tracing-'));
const [kafkaPort, controllerPort] = [await findFreePort(), await findFreePort()];
log(`starting Kafka on 127.0.0.1:${kafkaPort} …`);
const broker = await startKafka({ dataDir: join(dir, 'kafka'), port: kafkaPort, controllerPort: controllerPort === kafkaPort ? kafkaPort + 1 : controllerPort, heapMb: 1024 });
const otlpToken = randomBytes(32).toString('base64url');
const receiverProcess = spawn(process.execPath, [process.argv[1]!, '--receiver', join(dir, 'traces')], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, BENCH_OTLP_TOKEN: otlpToken } });
const receiver = {
  url: await new Promise<string>((resolve, reject) => {
    receiverProcess.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    receiverProcess.once('exit', () => reject(new Error('the trace receiver exited')));
  }),
  close: async () => {
    receiverProcess.kill('SIGTERM');
    if (receiverProcess.exitCode === null) await new Promise((resolve) => receiverProcess.once('exit', resolve));
  },
};

type Mode = 'off' | 'on' | 'unexported';

const internalKeys = generateKeyPairSync('ed25519', {
  privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
  publicKeyEncoding: { format: 'pem', type: 'spki' },
});

async function startService(mode: Mode, round: number): Promise<{ url: string; child: ChildProcess }> {
  const port = await findFreePort();
  const child = spawn(process.execPath, [join(repoRoot, 'services', 'data-processing', 'dist', 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      SERVICE_NAME: 'data-processing',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      INTERNAL_AUTH_PUBLIC_KEY: internalKeys.publicKey,
      KAFKA_BROKERS: broker.bootstrap,
      KAFKA_TOPIC_PREFIX: `bench${round}${mode}.`,
      ...(mode === 'on' ? { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${otlpToken}` } : mode === 'off' ? { OTEL_SDK_DISABLED: 'true' } : {}),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { url, child };
    if (Date.now() > deadline) throw new Error('data-processing did not get healthy');
    await sleep(200);
  }
}

// What the gateway adds for a service client allowed to post events for any subject.
const assertion = await new AssertionSigner(internalKeys.privateKey).sign('data-processing', { subject: 'bench', username: null, scope: INGEST_SCOPE, clientIp: null });
const body = JSON.stringify({ events: Array.from({ length: batch }, (_, i) => ({ type: 'page.viewed', subject: `u-${i}`, data: { path: `/p/${i}` } })) });

interface Run {
  eventsPerSecond: number;
  p99Ms: number;
  /** Answers other than 2xx (503s when the Kafka breaker opens on an overloaded machine), by status; not counted as events. */
  non2xx?: Record<string, number>;
}

async function measure(mode: Mode, round: number): Promise<Run> {
  const { url, child } = await startService(mode, round);
  try {
    const options = { url: `${url}/events`, method: 'POST' as const, headers: { 'content-type': 'application/json', [ASSERTION_HEADER]: assertion }, body, connections };
    await autocannon({ ...options, duration: 2 }); // warm-up
    const result = await autocannon({ ...options, duration: seconds });
    if (result.errors > 0) throw new Error(`${result.errors} connection errors`);
    const ok = Object.entries(result.statusCodeStats ?? {}).reduce((sum, [code, stat]) => sum + (code.startsWith('2') ? (stat as { count: number }).count : 0), 0);
    const run: Run = { eventsPerSecond: (ok * batch) / seconds, p99Ms: result.latency.p99 };
    if (result.non2xx > 0) {
      run.non2xx = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).filter(([code]) => !code.startsWith('2')).map(([code, stat]) => [code, (stat as { count: number }).count]));
    }
    return run;
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
}

try {
  const runs: Record<Mode, Run[]> = { off: [], on: [], unexported: [] };
  const { on, off, unexported } = runs;
  const order: Mode[] = ['off', 'on', 'unexported'];
  for (let round = 0; round < rounds; round++) {
    // Rotate which goes first, so that a warming machine favours none.
    for (const mode of [...order.slice(round % 3), ...order.slice(0, round % 3)]) {
      const result = await measure(mode, round);
      runs[mode].push(result);
      log(`round ${round + 1} tracing ${mode}: ${Math.round(result.eventsPerSecond)} events/s, p99 ${result.p99Ms} ms${result.non2xx ? `, non-2xx ${JSON.stringify(result.non2xx)}` : ''}`);
    }
  }
  const spans = (await readSpans(join(dir, 'traces'))).length;
  const onEvents = median(on.map((r) => r.eventsPerSecond));
  const offEvents = median(off.map((r) => r.eventsPerSecond));
  const result = {
    bench: 'tracing',
    description: `POST /events to data-processing (bundle, own process), ${batch} events a request, ${connections} connections, ${seconds} s per run, ${rounds} alternating rounds; tracing on (OTLP/HTTP JSON to msctl's receiver, in its own process) vs on but not exported vs OTEL_SDK_DISABLED=true`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    tracingOn: { eventsPerSecond: Math.round(onEvents), p99Ms: median(on.map((r) => r.p99Ms)), runs: on },
    /** Spans created and propagated, not exported (no OTLP endpoint): what creating spans costs alone. */
    tracingUnexported: { eventsPerSecond: Math.round(median(unexported.map((r) => r.eventsPerSecond))), p99Ms: median(unexported.map((r) => r.p99Ms)), runs: unexported },
    tracingOff: { eventsPerSecond: Math.round(offEvents), p99Ms: median(off.map((r) => r.p99Ms)), runs: off },
    ratioOnToOff: Math.round((onEvents / offEvents) * 1000) / 1000,
    /** Each round's on/off pair ran back to back: the median of their ratios is less exposed to a machine whose load drifts. */
    ratioMedianOfRounds: Math.round(median(on.map((r, i) => r.eventsPerSecond / off[i]!.eventsPerSecond)) * 1000) / 1000,
    ratioUnexportedToOff: Math.round((median(unexported.map((r) => r.eventsPerSecond)) / offEvents) * 1000) / 1000,
    loadAverage: loadavg(),
    spansReceived: spans,
    at: new Date().toISOString(),
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'tracing.json'), `${JSON.stringify(result, null, 2)}\n`);
  log(`tracing on/off throughput ratio ${result.ratioOnToOff} (median of rounds ${result.ratioMedianOfRounds}) (${result.tracingOn.eventsPerSecond} vs ${result.tracingOff.eventsPerSecond} events/s); ${spans} spans stored`);
} finally {
  await receiver.close();
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
