/**
 * bench/tail: messages per second of `msctl topics tail <t> --from beginning --exit --json`
 * against `kcat -C -e -J` on the same topic of ≥ 1,000,000 small keyed JSON messages, on a
 * broker the bench starts (free ports, temp dir). Alternating runs, medians, ratio.
 *
 *   npm run bench:tail [-- --messages 1000000 --rounds 3 --partitions 3]
 *
 * Writes bench/results/tail.json. Both write to /dev/null; a first, untimed pass checks
 * that each prints exactly the number of messages produced.
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectTopicsKafka, createStackTopics } from '../src/infra/kafka/client';
import { startKafka } from '../src/infra/kafka/broker';
import { findFreePort } from '../src/infra/ports';

// Run from the repository root (npm run sets it); the bundled copy of this file lives elsewhere.
const repoRoot = process.cwd();
const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
};
const total = arg('messages', 1_000_000);
const rounds = arg('rounds', 3);
const partitions = arg('partitions', 3);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const log = (text: string) => process.stderr.write(`${text}\n`);

const dir = await mkdtemp(join(tmpdir(), 'msctl-bench-tail-'));
const [port, controllerPort] = [await findFreePort(), await findFreePort()];
log(`starting Kafka on 127.0.0.1:${port} …`);
const broker = await startKafka({ dataDir: join(dir, 'kafka'), port, controllerPort: controllerPort === port ? port + 1 : controllerPort, heapMb: 1024 });
const bootstrap = broker.bootstrap;
const topic = 'bench.tail';

try {
  // ---- produce: msctl's own client, 10,000 messages a request, 4 requests in flight
  const kafka = await connectTopicsKafka([bootstrap], 'msctl-bench');
  await createStackTopics(bootstrap, [{ topic, partitions }]);
  const [info] = await kafka.describeTopics([topic]);
  const partitionOf = kafka.partitioner(info!);
  const types = ['page.viewed', 'order.placed', 'order.shipped', 'user.created'];
  const produceStarted = performance.now();
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < total) {
      const from = next;
      next = Math.min(total, next + 10_000);
      const messages = [];
      for (let i = from; i < next; i++) {
        const key = `u-${i % 1000}`;
        const value = `{"i":${i},"type":"${types[i % 4]}","userId":"${key}"}`;
        bytes += value.length + key.length;
        messages.push({ key, value, partition: partitionOf(key) });
      }
      await kafka.produce(topic, messages);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const produceMs = performance.now() - produceStarted;
  const [after] = await kafka.describeTopics([topic]);
  await kafka.close();
  const stored = after!.partitions.reduce((sum, p) => sum + p.high - p.low, 0);
  if (stored !== total) throw new Error(`produced ${stored} messages, expected ${total}`);
  log(`produced ${total} messages (${(bytes / total).toFixed(0)} B key+value each) in ${(produceMs / 1000).toFixed(1)} s (${Math.round(total / (produceMs / 1000))} msg/s)`);

  const node = process.execPath;
  const msctlArgs = [join(repoRoot, 'bin', 'msctl.js'), 'topics', 'tail', topic, '--from', 'beginning', '--exit', '--json', '--brokers', bootstrap];
  const kcatArgs = ['-C', '-e', '-q', '-J', '-b', bootstrap, '-t', topic];
  const peers = {
    msctl: (stdout: 'pipe' | 'ignore') => execa(node, msctlArgs, { stdout, env: { NO_COLOR: '1' }, maxBuffer: 1 << 30 }),
    kcat: (stdout: 'pipe' | 'ignore') => execa('kcat', kcatArgs, { stdout, maxBuffer: 1 << 30 }),
  };

  // ---- check: each prints exactly `total` lines
  for (const [name, run] of Object.entries(peers)) {
    const result = await run('pipe');
    const lines = String(result.stdout).split('\n').filter(Boolean).length;
    if (lines !== total) throw new Error(`${name} printed ${lines} lines, expected ${total}`);
    log(`${name}: prints all ${total} messages`);
  }

  // ---- timed, alternating, output to /dev/null
  const times: Record<'msctl' | 'kcat', number[]> = { msctl: [], kcat: [] };
  for (let round = 0; round < rounds; round++) {
    for (const name of (round % 2 === 0 ? ['msctl', 'kcat'] : ['kcat', 'msctl']) as Array<'msctl' | 'kcat'>) {
      const started = performance.now();
      const result = await peers[name]('ignore');
      const ms = performance.now() - started;
      if (result.exitCode !== 0) throw new Error(`${name} failed: ${result.stderr}`);
      times[name].push(Math.round(ms));
      log(`round ${round + 1}/${rounds} ${name}: ${Math.round(ms)} ms (${Math.round(total / (ms / 1000))} msg/s)`);
    }
  }
  const rate = (ms: number) => Math.round(total / (ms / 1000));
  const summary = {
    benchmark: 'tail',
    when: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    messages: total,
    partitions,
    averageMessageBytes: Math.round(bytes / total),
    produce: { ms: Math.round(produceMs), messagesPerSecond: rate(produceMs) },
    commands: { msctl: `msctl ${msctlArgs.slice(1).join(' ')} > /dev/null`, kcat: `kcat ${kcatArgs.join(' ')} > /dev/null` },
    msctl: { runsMs: times.msctl, medianMs: median(times.msctl), messagesPerSecond: rate(median(times.msctl)) },
    kcat: { runsMs: times.kcat, medianMs: median(times.kcat), messagesPerSecond: rate(median(times.kcat)) },
    /** msctl's messages/s divided by kcat's (1 = as fast as kcat). */
    ratio: Math.round((median(times.kcat) / median(times.msctl)) * 100) / 100,
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'tail.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ msctl: summary.msctl, kcat: summary.kcat, ratio: summary.ratio })}\n`);
} finally {
  await broker.stop();
  await rm(dir, { recursive: true, force: true });
}
