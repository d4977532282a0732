/**
 * bench/soak (reliability suite 7): the `mixed` scenario at a fixed rate for a long time
 * against a fresh local stack; zero errors expected. The documented target is 10 minutes at
 * half of measured capacity:
 *
 *   npm run soak -- --duration 600 --rate 300 [--sample-seconds 30 --flat-mb-per-min 1]
 *
 * Memory of every process of the stack — each service (RSS and V8 heap used, from its /metrics)
 * and the supervisor (RSS from /proc/<pid>/status; its heap is not exposed) — is read before the
 * run, every --sample-seconds during it and after it. RSS counts as flat when its least-squares
 * slope over the samples after the first third of the run (warm-up) is at most --flat-mb-per-min.
 *
 * (CI does not run it.) Writes bench/results/soak.json and rewrites bench/results/SUMMARY.md.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../src/core/sleep';
import type { StackStatus } from '../src/runtime/types';
import { arg, loadTest, log, machine, resultsDir, slope, withThrowawayStack, writeSummary, type Msctl } from './load';

const duration = arg('duration', 600);
const rate = arg('rate', 300);
const sampleSeconds = arg('sample-seconds', 30);
const flatMbPerMin = arg('flat-mb-per-min', 1);

interface Reading {
  rssMb: number | null;
  heapUsedMb: number | null;
}
type Snapshot = Record<string, Reading>;
const mb = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? null : Math.round(bytes / 1e5) / 10);

async function status(msctl: Msctl): Promise<StackStatus> {
  return JSON.parse(String((await msctl(['status', '--json'])).stdout)) as StackStatus;
}

async function serviceMemory(port: number): Promise<Reading> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const value = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    return { rssMb: mb(value('process_resident_memory_bytes')), heapUsedMb: mb(value('nodejs_heap_size_used_bytes')) };
  } catch {
    return { rssMb: null, heapUsedMb: null };
  }
}

async function processRss(pid: number): Promise<Reading> {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1];
    return { rssMb: kb === undefined ? null : mb(Number(kb) * 1024), heapUsedMb: null };
  } catch {
    return { rssMb: null, heapUsedMb: null };
  }
}

/** Every service's and the supervisor's memory now, by the ports and pid `msctl status` gave. */
async function memory(targets: StackStatus['targets'], supervisorPid: number | null): Promise<Snapshot> {
  const services = targets.filter((t) => t.kind === 'service' && t.port);
  const readings = await Promise.all(services.map(async (t) => [t.name, await serviceMemory(t.port!)] as const));
  return { ...Object.fromEntries(readings), supervisor: supervisorPid === null ? { rssMb: null, heapUsedMb: null } : await processRss(supervisorPid) };
}

const outcome = await withThrowawayStack(async ({ msctl }) => {
  log(`soak: warming up (mixed at ${rate} req/s for 15 s)…`);
  await loadTest(msctl, ['mixed', '--duration', '15', '--rate', String(rate)]);
  const before = await status(msctl);
  const supervisorPid = before.supervisor.pid;
  const beforeMemory = await memory(before.targets, supervisorPid);
  log(`soak: mixed at ${rate} req/s for ${duration} s, memory every ${sampleSeconds} s…`);
  const samples: Array<{ second: number; memory: Snapshot }> = [];
  const started = Date.now();
  const finished = new AbortController();
  const sampler = (async () => {
    for (let next = sampleSeconds; ; next += sampleSeconds) {
      // Counted from the start, so that the time a reading takes does not shift the next one.
      if (await sleep(Math.max(0, started + next * 1000 - Date.now()), finished.signal)) return;
      samples.push({ second: Math.round((Date.now() - started) / 1000), memory: await memory(before.targets, supervisorPid) });
    }
  })();
  const run = await loadTest(msctl, ['mixed', '--duration', String(duration), '--rate', String(rate)]).finally(() => finished.abort());
  await sampler;
  const after = await status(msctl);
  const afterMemory = await memory(after.targets, after.supervisor.pid);
  // A restarted process is a new process: its memory is not the same series.
  const restarted = after.targets.filter((t) => before.targets.find((b) => b.name === t.name)?.pid !== t.pid).map((t) => t.name);
  if (after.supervisor.pid !== supervisorPid) restarted.push('supervisor');
  return { run, beforeMemory, afterMemory, samples, restarted };
}, (duration + 300) * 1000);

const warmedUp = outcome.samples.filter((s) => s.second >= duration / 3);
const processes = Object.fromEntries(
  Object.keys(outcome.beforeMemory).map((name) => {
    const points = warmedUp.flatMap((s) => (s.memory[name]?.rssMb == null ? [] : [{ x: s.second / 60, y: s.memory[name].rssMb }]));
    const perMinute = slope(points);
    const rssSlopeMbPerMin = perMinute === null ? null : Math.round(perMinute * 100) / 100;
    return [
      name,
      {
        before: outcome.beforeMemory[name],
        during: outcome.samples.map((s) => ({ second: s.second, ...s.memory[name] })),
        after: outcome.afterMemory[name],
        rssSlopeMbPerMin,
        rssFlat: rssSlopeMbPerMin === null ? null : rssSlopeMbPerMin <= flatMbPerMin,
        restarted: outcome.restarted.includes(name),
      },
    ];
  }),
);
const { result, exitCode } = outcome.run;
const growing = Object.entries(processes).filter(([, p]) => p.rssFlat === false);
const unknown = Object.entries(processes).filter(([, p]) => p.rssFlat === null);
const summary = `${result.totals.requests} requests, ${result.totals.non2xx} non-2xx, ${result.totals.errors} errors; RSS after warm-up ${
  growing.length ? `growing in ${growing.map(([name, p]) => `${name} (${p.rssSlopeMbPerMin} MB/min)`).join(', ')}` : `flat in every process (≤ ${flatMbPerMin} MB/min)`
}${unknown.length ? `; too few samples for ${unknown.map(([name]) => name).join(', ')}` : ''}`;
const document = {
  benchmark: 'soak',
  when: new Date().toISOString(),
  machine: machine(),
  durationSeconds: duration,
  rate,
  sampleSeconds,
  flatMbPerMin,
  exitCode,
  summary,
  result: { totals: result.totals, latency: result.latency, slo: result.slo, ingestCheck: result.ingestCheck, generatorCpuPercent: outcome.run.generatorCpuPercent },
  memory: processes,
};
await mkdir(resultsDir, { recursive: true });
await writeFile(join(resultsDir, 'soak.json'), `${JSON.stringify(document, null, 2)}\n`);
await writeSummary();
for (const [name, p] of Object.entries(processes)) {
  log(
    `soak ${name}: RSS ${p.before?.rssMb ?? '?'} → ${p.after?.rssMb ?? '?'} MB, heap ${p.before?.heapUsedMb ?? '-'} → ${p.after?.heapUsedMb ?? '-'} MB, RSS slope after warm-up ${p.rssSlopeMbPerMin ?? '?'} MB/min${p.rssFlat ? ' (flat)' : p.rssFlat === false ? ' (GROWING)' : ''}${p.restarted ? ' (restarted during the run)' : ''}`,
  );
}
// At a fixed rate below the SLOs' throughput minimums, load-test exits 3 whatever happens: the
// soak is judged on its errors and memory.
process.stdout.write(`soak: load-test exit ${exitCode}${exitCode === 3 ? ' (an SLO missed: at a fixed rate below them, the throughput minimums always are)' : ''}; ${summary}\n`);
