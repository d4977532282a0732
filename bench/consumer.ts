/**
 * bench/consumer: how fast analytics (its built bundle, as the local runtime runs it) applies a
 * backlog of events.processed: N CloudEvents produced before it starts; the rate is measured
 * from its group's first commit until it has committed the end of every partition (start-up,
 * migrations and the group join are left out), and checked against what it counted. Twice per round: a clean backlog, and the same with one poison record (a NUL in the
 * subject, which PostgreSQL refuses) every `--poison-every` events, which the consumer must set
 * aside while it applies the rest.
 *
 * Peers side by side: `--baseline <dir>` adds the analytics bundle of another checkout (built
 * there with `npm ci && npm run build`), e.g. the commit before a change. A baseline without
 * dead letters stalls on the first poison record: its poison runs end at `--timeout` seconds
 * and are reported as stalled.
 *
 *   npm run bench:consumer [-- --events 200000 --rounds 3 --poison-every 10000 --baseline /tmp/msctl-before --cpu-prof]
 *
 * Writes bench/results/consumer.json. Kafka and PostgreSQL are started by the bench (free ports,
 * temp dir); every run has topics, group and schema of its own.
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectTopicsKafka, createStackTopics } from '../src/infra/kafka/client';
import { startKafka } from '../src/infra/kafka/broker';
import { startPostgres } from '../src/infra/postgres/server';
import { findFreePort } from '../src/infra/ports';
import { sleep } from '../src/core/sleep';

const repoRoot = process.cwd();
const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const textArg = (name: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? undefined : process.argv[at + 1];
};
const total = arg('events', 200_000);
const rounds = arg('rounds', 3);
const poisonEvery = arg('poison-every', 10_000);
const timeoutSeconds = arg('timeout', 120);
const baseline = textArg('baseline');
/** `--cpu-prof`: each analytics process writes a CPU profile to bench/results/profiles/consumer/. */
const profileDir = process.argv.includes('--cpu-prof') ? join(repoRoot, 'bench', 'results', 'profiles', 'consumer') : undefined;
const partitions = 3;
const log = (text: string) => process.stderr.write(`${text}\n`);
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const peers: Record<string, string> = { current: join(repoRoot, 'services', 'analytics', 'dist', 'main.js') };
if (baseline) peers.baseline = join(resolve(baseline), 'services', 'analytics', 'dist', 'main.js');

const dir = await mkdtemp(join(tmpdir(), 'msctl-bench-consumer-'));
await chmod(dir, 0o755); // PostgreSQL runs as an unprivileged user when we are root
const [kafkaPort, controllerPort, pgPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
log(`starting Kafka on 127.0.0.1:${kafkaPort} and PostgreSQL on 127.0.0.1:${pgPort} …`);
const [broker, postgres] = await Promise.all([
  startKafka({ dataDir: join(dir, 'kafka'), port: kafkaPort, controllerPort: controllerPort === kafkaPort ? kafkaPort + 1 : controllerPort, heapMb: 1024 }),
  startPostgres({ dataDir: join(dir, 'pg', 'data'), port: pgPort === kafkaPort || pgPort === controllerPort ? pgPort + 2 : pgPort, user: 'bench', password: randomBytes(12).toString('hex') }),
]);

interface Run {
  peer: string;
  poison: boolean;
  /** Seconds from the group's first commit until it committed the end of every partition (null: it never did). */
  seconds: number | null;
  /** Seconds from the process start until then: start-up and join included. */
  secondsFromStart: number | null;
  eventsPerSecond: number | null;
  /** What analytics counted of the good events when the run ended. */
  counted: number;
  good: number;
}

/** Produces the backlog: `total` events (plus poison records) over 1,000 users. */
async function produceBacklog(prefix: string, poison: boolean): Promise<{ good: number }> {
  const topic = `${prefix}events.processed`;
  await createStackTopics(broker.bootstrap, [
    { topic, partitions },
    { topic: `${prefix}users.events`, partitions },
  ]);
  const kafka = await connectTopicsKafka([broker.bootstrap], 'msctl-bench');
  try {
    const [info] = await kafka.describeTopics([topic]);
    const partitionOf = kafka.partitioner(info!);
    const time = new Date().toISOString();
    let good = 0;
    for (let from = 0; from < total; from += 10_000) {
      const messages = [];
      for (let i = from; i < Math.min(total, from + 10_000); i++) {
        const key = `u-${i % 1000}`;
        const bad = poison && i % poisonEvery === poisonEvery - 1;
        if (!bad) good += 1;
        const value = JSON.stringify({ specversion: '1.0', id: randomUUID(), source: '/bench', type: `bench.t${i % 4}`, time, subject: bad ? `a\u0000b` : key, data: { i } });
        messages.push({ key, value, partition: partitionOf(key) });
      }
      await kafka.produce(topic, messages);
    }
    return { good };
  } finally {
    await kafka.close();
  }
}

/** Records committed by the group (over every partition), and whether that is all of them. */
async function progressOf(kafka: Awaited<ReturnType<typeof connectTopicsKafka>>, prefix: string): Promise<{ committed: number; done: boolean }> {
  const topic = `${prefix}events.processed`;
  const [[info], committed] = await Promise.all([kafka.describeTopics([topic]), kafka.committedOffsets(`${prefix}analytics`)]);
  const offsets = new Map(committed.find((t) => t.topic === topic)?.partitions.map((p) => [p.partition, p.offset]) ?? []);
  const sum = info!.partitions.reduce((total, p) => total + Math.max(0, offsets.get(p.partition) ?? 0), 0);
  return { committed: sum, done: info!.partitions.every((p) => offsets.get(p.partition) === p.high) };
}

async function measure(peer: string, poison: boolean, round: number): Promise<Run> {
  const prefix = `r${round}${peer}${poison ? 'p' : 'c'}.`;
  const { good } = await produceBacklog(prefix, poison);
  const port = await findFreePort();
  const schema = `bench_${round}_${peer}_${poison ? 'p' : 'c'}`;
  const started = performance.now();
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${peer}-${poison ? 'poison' : 'clean'}-${round}.cpuprofile`] : [];
  const child = spawn(process.execPath, [...profile, peers[peer]!], {
    env: {
      PATH: process.env.PATH ?? '',
      SERVICE_NAME: 'analytics',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
      OTEL_SDK_DISABLED: 'true',
      KAFKA_BROKERS: broker.bootstrap,
      KAFKA_TOPIC_PREFIX: prefix,
      DATABASE_URL: postgres.url,
      DATABASE_SCHEMA: schema,
    },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const kafka = await connectTopicsKafka([broker.bootstrap], 'msctl-bench-watch');
  const records = total;
  let first: { at: number; committed: number } | undefined;
  let seconds: number | null = null;
  let secondsFromStart: number | null = null;
  try {
    const deadline = started + timeoutSeconds * 1000;
    while (performance.now() < deadline) {
      const progress = await progressOf(kafka, prefix).catch(() => ({ committed: 0, done: false }));
      const now = performance.now();
      if (!first && progress.committed > 0) first = { at: now, committed: progress.committed };
      if (progress.done && first) {
        seconds = (now - first.at) / 1000;
        secondsFromStart = (now - started) / 1000;
        break;
      }
      await sleep(50);
    }
    const summary = await fetch(`http://127.0.0.1:${port}/analytics/summary`)
      .then((r) => r.json() as Promise<{ byType: Record<string, number> }>)
      .catch(() => ({ byType: {} as Record<string, number> }));
    const counted = Object.entries(summary.byType)
      .filter(([type]) => type.startsWith('bench.'))
      .reduce((sum, [, n]) => sum + n, 0);
    const applied = records - (first?.committed ?? 0);
    return { peer, poison, seconds, secondsFromStart, eventsPerSecond: seconds === null || seconds === 0 ? null : Math.round(applied / seconds), counted, good };
  } finally {
    await kafka.close();
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

try {
  const runs: Run[] = [];
  const order = Object.keys(peers);
  for (let round = 0; round < rounds; round++) {
    for (const peer of [...order.slice(round % order.length), ...order.slice(0, round % order.length)]) {
      for (const poison of [false, true]) {
        const run = await measure(peer, poison, round);
        runs.push(run);
        log(
          `round ${round + 1} ${peer} ${poison ? `poison 1/${poisonEvery}` : 'clean'}: ${run.seconds === null ? `stalled (${run.counted} of ${run.good} counted after ${timeoutSeconds} s)` : `${run.eventsPerSecond} events/s, ${run.counted} of ${run.good} counted`}`,
        );
      }
    }
  }
  const summary = (peer: string, poison: boolean) => {
    const mine = runs.filter((r) => r.peer === peer && r.poison === poison);
    const finished = mine.filter((r) => r.eventsPerSecond !== null);
    return {
      eventsPerSecond: finished.length === mine.length ? median(finished.map((r) => r.eventsPerSecond!)) : null,
      stalledRuns: mine.length - finished.length,
      everyGoodEventCounted: mine.every((r) => r.counted === r.good),
      runs: mine,
    };
  };
  const result = {
    bench: 'consumer',
    description: `analytics applying a backlog of ${total} events.processed events (${partitions} partitions, 1,000 keys), records per second from its group's first commit until it committed the end of every partition; poison runs have a NUL subject every ${poisonEvery} events; OTEL_SDK_DISABLED=true; ${rounds} rounds, peers alternating`,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    peers: Object.fromEntries(order.map((peer) => [peer, { bundle: peers[peer], clean: summary(peer, false), poison: summary(peer, true) }])),
    ...(baseline
      ? {
          ratioCleanCurrentToBaseline:
            summary('baseline', false).eventsPerSecond && summary('current', false).eventsPerSecond
              ? Math.round((summary('current', false).eventsPerSecond! / summary('baseline', false).eventsPerSecond!) * 1000) / 1000
              : null,
        }
      : {}),
    loadAverage: loadavg(),
    at: new Date().toISOString(),
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'consumer.json'), `${JSON.stringify(result, null, 2)}\n`);
  for (const peer of order) {
    const clean = summary(peer, false);
    const poison = summary(peer, true);
    log(
      `${peer}: clean ${clean.eventsPerSecond ?? 'stalled'} events/s; with poison ${poison.eventsPerSecond ?? `stalled in ${poison.stalledRuns} of ${rounds} runs`}${poison.eventsPerSecond ? ' events/s' : ''}; every good event counted: ${clean.everyGoodEventCounted && poison.everyGoodEventCounted}`,
    );
  }
} finally {
  await Promise.allSettled([broker.stop(), postgres.stop()]);
  await rm(dir, { recursive: true, force: true });
}
