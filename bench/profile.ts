/**
 * bench/profile: where every millisecond of CPU goes, per process, per built-in scenario.
 *
 * One throwaway stack (local runtime, rate limits raised in .msctl/settings.json) runs with
 * `--cpu-prof` on every service and on the supervisor. Each scenario then runs through
 * `msctl load-test` while /proc is sampled for every process of the stack: the services, the
 * supervisor, Kafka, PostgreSQL (the postmaster and every backend) and the load generator. At
 * the end `msctl down` stops the stack, which writes the profiles; each profile is cut to each
 * scenario's measured window (profiles and process.hrtime share the monotonic clock).
 *
 *   npm run bench:profile [-- --scenarios users,ingest,read,mixed --seconds 15 --connections 16 --warmup 15 --top 12 --no-profile]
 *
 * A scenario is a built-in one, a file of bench/scenarios (`users-me`, `users-patch`,
 * `users-signup`: the users scenario's three kinds of request, one at a time) or a path, and
 * `@<rate>` after it runs it at that fixed rate (`--rate`, open model) instead of as fast as it
 * goes: `--scenarios users-me@600,users-patch@300,users-signup@3` prices each kind of request at
 * a known load. After the warm-up the stack is measured idle for --idle seconds (10): what it
 * costs with nothing to do, which a slow fixed rate carries in its per-request figures.
 *
 * Writes bench/results/profile.json and bench/results/profile.md: per scenario, the CPU
 * milliseconds per request of each process, and each Node process's top self-time functions
 * (with the module esbuild bundled them from).
 */
import { execa } from 'execa';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { LoadResult } from '../src/load/types';
import type { StackStatus } from '../src/runtime/types';
import { writeStackSettings } from '../src/stack/project';
import { createThrowawayProject } from '../test/support/throwaway-project';
import { scenarioRun } from './scenario-run';
import { THREAD_KINDS, cpuSecondsByThread, cpuSecondsOf, statFields, type ThreadKind } from './proc';
import { sleep } from '../src/core/sleep';

const repoRoot = process.cwd();
const flag = (name: string, fallback: string) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : process.argv[index + 1]!;
};
const scenarios = flag('scenarios', 'users,ingest,read,mixed').split(',');
const seconds = Number(flag('seconds', '15'));
const connections = Number(flag('connections', '16'));
const top = Number(flag('top', '12'));
const warmupSeconds = Number(flag('warmup', '15'));
const idleSeconds = Number(flag('idle', '10'));
// --no-profile: /proc figures only (the profiler costs CPU and memory of its own).
const profiled = !process.argv.includes('--no-profile');
const resultsDir = join(repoRoot, 'bench', 'results');
const log = (text: string) => process.stderr.write(`${text}\n`);
const round1 = (n: number) => Math.round(n * 10) / 10;
const round3 = (n: number) => Math.round(n * 1000) / 1000;
const nowMicros = () => Number(process.hrtime.bigint() / 1000n);

/** utime + stime of a process in ms, or undefined once it is gone. */
function cpuMs(pid: number): number | undefined {
  const seconds = cpuSecondsOf(pid);
  return seconds === null ? undefined : seconds * 1000;
}

/**
 * Resident memory in MB, or 0 once the process is gone: RSS, except for a group of processes
 * (PostgreSQL's backends share its buffers), which counts each page once (PSS, summed).
 */
function memoryMb(pid: number, shared: boolean): number {
  try {
    const text = readFileSync(shared ? `/proc/${pid}/smaps_rollup` : `/proc/${pid}/status`, 'utf8');
    const line = text.split('\n').find((l) => l.startsWith(shared ? 'Pss:' : 'VmRSS:'));
    return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 102.4) / 10;
  } catch {
    return 0;
  }
}

function parentOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[1]) : undefined;
}

/** A PostgreSQL server is the postmaster and every backend it forked: their CPU is summed. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((candidate) => parentOf(candidate) === pid);
}

interface Group {
  name: string;
  pids: () => number[];
  /** A Node process: its CPU is also split by thread kind (`<name>/main`, `<name>/threadpool`, …). */
  node?: boolean;
}

/** CPU ms of each group, sampled every 200 ms; backends that ended keep their last reading. */
class CpuSampler {
  private readonly last = new Map<string, Map<number, number>>();
  private readonly samples: Array<{ at: number; ms: Record<string, number> }> = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly groups: Group[]) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 200);
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }

  sample(): void {
    const ms: Record<string, number> = {};
    for (const group of this.groups) {
      const seen = this.last.get(group.name) ?? new Map<number, number>();
      for (const pid of group.pids()) {
        const value = cpuMs(pid);
        if (value !== undefined) seen.set(pid, value);
      }
      this.last.set(group.name, seen);
      ms[group.name] = [...seen.values()].reduce((a, b) => a + b, 0);
      const pid = group.node ? group.pids()[0] : undefined;
      const split = pid === undefined ? null : cpuSecondsByThread(pid);
      if (split) for (const kind of THREAD_KINDS) ms[`${group.name}/${kind}`] = split[kind] * 1000;
    }
    this.samples.push({ at: nowMicros(), ms });
  }

  /** Resident memory of each group now, in MB (PostgreSQL: the PSS of every process of the server), and their total. */
  rss(): Record<string, number> {
    const each = Object.fromEntries(
      this.groups.map((g) => {
        const pids = g.pids();
        return [g.name, Math.round(pids.reduce((sum, pid) => sum + memoryMb(pid, pids.length > 1), 0))];
      }),
    );
    // The total counts each page once: the Node binary's pages are shared by six processes.
    const stack = this.groups.filter((g) => g.name !== 'generator').flatMap((g) => g.pids());
    return { ...each, 'whole stack': Math.round(stack.reduce((sum, pid) => sum + memoryMb(pid, true), 0)) };
  }

  /** CPU ms each group (and each Node process's kind of thread) used between two instants (linear between samples). */
  between(from: number, to: number): Record<string, number> {
    const at = (t: number, name: string) => {
      const after = this.samples.findIndex((s) => s.at >= t);
      if (after <= 0) return this.samples[Math.max(0, after === -1 ? this.samples.length - 1 : 0)]!.ms[name] ?? 0;
      const a = this.samples[after - 1]!;
      const b = this.samples[after]!;
      const share = (t - a.at) / (b.at - a.at);
      return (a.ms[name] ?? 0) + share * ((b.ms[name] ?? 0) - (a.ms[name] ?? 0));
    };
    const names = Object.keys(this.samples.at(-1)?.ms ?? {});
    return Object.fromEntries(names.map((name) => [name, Math.max(0, at(to, name) - at(from, name))]));
  }
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** esbuild writes `// node_modules/pkg/file.js` before each bundled module: line → module. */
const moduleIndex = new Map<string, Array<{ line: number; module: string }>>();
function moduleAt(url: string, line: number): string {
  if (!url.startsWith('file://')) return url.startsWith('node:') ? url : '';
  let index = moduleIndex.get(url);
  if (!index) {
    index = [];
    try {
      const lines = readFileSync(new URL(url), 'utf8').split('\n');
      lines.forEach((text, i) => {
        if (/^\/\/ [\w@./-]+\.(m?[jt]s|json)$/.test(text)) index!.push({ line: i, module: text.slice(3) });
      });
    } catch {}
    moduleIndex.set(url, index);
  }
  let found = url.slice(url.lastIndexOf('/') + 1);
  for (const entry of index) {
    if (entry.line > line) break;
    found = entry.module;
  }
  return found.replace(/^(\.\.\/)+/, '');
}

/** Self time per function within [from, to] (µs on the monotonic clock), in ms. */
function selfTimes(profile: CpuProfile, from: number, to: number): { totalMs: number; functions: Array<{ fn: string; module: string; ms: number }> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, { fn: string; module: string; us: number }>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < from || t > to) continue;
    const frame = byId.get(profile.samples[i]!)!.callFrame;
    if (frame.functionName === '(idle)') continue;
    const module = moduleAt(frame.url, frame.lineNumber);
    const key = `${frame.functionName}|${module}`;
    const entry = totals.get(key) ?? { fn: frame.functionName || '(anonymous)', module, us: 0 };
    entry.us += delta;
    total += delta;
    totals.set(key, entry);
  }
  const functions = [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({ fn: f.fn, module: f.module, ms: round1(f.us / 1000) }));
  return { totalMs: round1(total / 1000), functions };
}

const project = await createThrowawayProject(repoRoot);
const profileDir = join(project.dir, 'cpu-profiles');
const msctlEnv = { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' };
const msctl = (args: string[], env: Record<string, string> = {}) =>
  execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], { env: { ...msctlEnv, ...env }, reject: false });

interface ScenarioResult {
  scenario: string;
  /** The fixed arrival rate it ran at, or null when it ran as fast as it went (closed model). */
  rate: number | null;
  requests: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  p99Ms: number | null;
  window: { from: number; to: number };
  cpuMs: Record<string, number>;
  /** Each Node process's CPU by kind of thread, in % of its own: the profile's self times are the main thread's only. */
  threadShares: Record<string, Record<ThreadKind, number>>;
  cpuMsPerRequest: Record<string, number>;
  shareOfACore: Record<string, number>;
  /** Resident memory of each process 2 s after the scenario ended. */
  rssAfterMb: Record<string, number>;
}

const results: ScenarioResult[] = [];
let idleRss: Record<string, number> = {};
/** Each process's CPU over the idle window, in % of a core. */
let idleShare: Record<string, number> = {};
const pidNames = new Map<number, string>();
try {
  // The rate limits are not what this measures (the users scenario signs up from one address).
  writeStackSettings(join(project.dir, '.msctl'), { rateLimitPerSecond: 1_000_000 });
  await mkdir(profileDir, { recursive: true });
  const profiling = `--cpu-prof --cpu-prof-dir=${profileDir}`;
  log('starting a throwaway stack with --cpu-prof on every process (msctl up -d)…');
  // NODE_OPTIONS reaches the supervisor (msctl up spawns it with its own environment);
  // MSCTL_SERVICE_NODE_OPTIONS reaches the services.
  const up = await msctl(['up', '-d'], profiled ? { NODE_OPTIONS: profiling, MSCTL_SERVICE_NODE_OPTIONS: profiling } : {});
  if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);
  const status = JSON.parse(String((await msctl(['status', '--json'])).stdout)) as StackStatus;
  const groups: Group[] = [];
  for (const target of status.targets) {
    if (!target.pid) continue;
    const pid = target.pid;
    pidNames.set(pid, target.name);
    groups.push({ name: target.name, pids: target.name === 'postgres' ? () => [pid, ...childrenOf(pid)] : () => [pid], node: target.kind === 'service' });
  }
  if (status.supervisor.pid) {
    const supervisor = status.supervisor.pid;
    pidNames.set(supervisor, 'supervisor');
    groups.push({ name: 'supervisor', pids: () => [supervisor], node: true });
  }
  let generatorPid: number | undefined;
  groups.push({ name: 'generator', pids: () => (generatorPid ? [generatorPid] : []) });
  const sampler = new CpuSampler(groups);
  sampler.start();
  idleRss = sampler.rss();
  log(`idle RSS (MB): ${JSON.stringify(idleRss)}`);

  // A stack just started is still compiling (the broker's JIT above all): warm it with every
  // kind of request first, unmeasured, so each scenario is charged its own cost.
  if (warmupSeconds > 0) {
    log(`warming the stack up: mixed for ${warmupSeconds} s (not measured)…`);
    await msctl(['load-test', 'mixed', '--duration', String(warmupSeconds), '--connections', String(connections), '--json']);
  }
  if (idleSeconds > 0) {
    // The consumers drain what the warm-up left first; then nothing runs but the stack itself.
    log(`measuring the stack idle for ${idleSeconds} s…`);
    await sleep(5_000);
    const from = nowMicros();
    await sleep(idleSeconds * 1000);
    const idle = sampler.between(from, nowMicros());
    idleShare = Object.fromEntries(Object.entries(idle).filter(([name]) => !name.includes('/') && name !== 'generator').map(([name, ms]) => [name, round1((ms / (idleSeconds * 1000)) * 100)]));
    log(`idle CPU (% of a core): ${JSON.stringify(idleShare)}`);
  }
  for (const entry of scenarios) {
    const { scenario, args, rate } = scenarioRun(entry, seconds, connections);
    log(`${scenario}: ${seconds} s, ${connections} connections${rate === null ? '' : `, ${rate} req/s`}…`);
    const run = msctl(args);
    generatorPid = run.pid;
    const outcome = await run;
    generatorPid = undefined;
    const lines = String(outcome.stdout).trim().split('\n');
    const result = JSON.parse(lines.at(-1) ?? '{}') as LoadResult;
    if (!result.totals) throw new Error(`load-test ${scenario} gave no result (exit ${outcome.exitCode}):\n${outcome.stderr}`);
    // The measured window on the monotonic clock, from the run's wall-clock start.
    const offset = Date.now() * 1000 - nowMicros();
    const from = Date.parse(result.startedAt) * 1000 + result.warmupSeconds * 1e6 - offset;
    const to = from + result.durationSeconds * 1e6;
    const all = sampler.between(from, to);
    const cpu = Object.fromEntries(Object.entries(all).filter(([name]) => !name.includes('/')));
    const threadShares = Object.fromEntries(
      Object.keys(cpu)
        .filter((name) => all[`${name}/main`] !== undefined)
        .map((name) => [name, Object.fromEntries(THREAD_KINDS.map((kind) => [kind, Math.round(((all[`${name}/${kind}`] ?? 0) / Math.max(1, cpu[name]!)) * 100)])) as Record<ThreadKind, number>]),
    );
    const requests = result.totals.requests;
    await sleep(2_000);
    const rssAfterMb = sampler.rss();
    results.push({
      rssAfterMb,
      scenario,
      rate,
      requests,
      requestsPerSecond: round1(result.totals.requestsPerSecond),
      eventsPerSecond: round1(result.totals.eventsPerSecond),
      p99Ms: result.latency?.p99 ?? null,
      window: { from, to },
      cpuMs: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Math.round(v)])),
      threadShares,
      cpuMsPerRequest: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round3(v / Math.max(1, requests))])),
      shareOfACore: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, round1((v / (result.durationSeconds * 1000)) * 100)])),
    });
    log(`  ${round1(result.totals.requestsPerSecond)} req/s, p99 ${result.latency?.p99} ms, exit ${outcome.exitCode}`);
  }
  sampler.stop();
} finally {
  log('stopping the stack (the profiles are written as each process exits)…');
  await msctl(['down', '-v']);
}

// Profiles are named CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile.
const profiles = new Map<string, CpuProfile>();
for (const file of await readdir(profileDir).catch(() => [])) {
  const pid = Number(file.split('.')[3]);
  const name = pidNames.get(pid);
  if (name) profiles.set(name, JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile);
}

const report = {
  benchmark: 'profile',
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  settings: { seconds, connections, scenarios, warmupSeconds, idleSeconds },
  note: 'The load generator shares the cores with the stack; its CPU is the "generator" column.',
  idleRssMb: idleRss,
  idleShareOfACore: idleShare,
  scenarios: results.map((r) => ({
    ...r,
    window: undefined,
    topFunctions: Object.fromEntries([...profiles].map(([name, profile]) => [name, selfTimes(profile, r.window.from, r.window.to)])),
  })),
};
await mkdir(resultsDir, { recursive: true });
await writeFile(join(resultsDir, 'profile.json'), `${JSON.stringify(report, null, 2)}\n`);

const md: string[] = [
  '# Profile',
  '',
  `Machine: ${cpus().length} cores, Node ${process.version}. ${seconds} s per scenario, ${connections} connections; the generator shares the cores.${profiled ? ' Every Node process runs with --cpu-prof.' : ' No profiler.'}`,
  '',
];
if (Object.keys(idleShare).length > 0) {
  const names = Object.keys(idleShare).sort((a, b) => idleShare[b]! - idleShare[a]!);
  md.push(`Idle, ${idleSeconds} s after the warm-up (% of a core): ${names.map((n) => `${n} ${idleShare[n]}`).join(', ')}; in all ${round1(names.reduce((sum, n) => sum + idleShare[n]!, 0))}. A fixed rate's per-request figures include this share.`, '');
}
for (const r of report.scenarios) {
  const names = Object.keys(r.cpuMs).sort((a, b) => r.cpuMs[b]! - r.cpuMs[a]!);
  const totalPerRequest = names.filter((n) => n !== 'generator').reduce((sum, n) => sum + r.cpuMsPerRequest[n]!, 0);
  md.push(`## ${r.scenario}: ${r.rate === null ? '' : 'fixed rate, '}${r.requestsPerSecond} req/s${r.eventsPerSecond ? ` (${r.eventsPerSecond} events/s)` : ''}, p99 ${r.p99Ms} ms`, '');
  md.push(`Stack CPU per request (generator excluded): **${round3(totalPerRequest)} ms**`, '');
  md.push('| process | CPU ms / request | % of a core | threads: main / pool / V8 / profiler / other (%) | RSS after (MB) | RSS idle before (MB) |', '|---|---|---|---|---|---|');
  for (const n of names) {
    const threads = r.threadShares[n];
    const split = threads ? `${threads.main} / ${threads.threadpool} / ${threads.v8} / ${threads.profiler} / ${threads.other}` : '-';
    md.push(`| ${n} | ${r.cpuMsPerRequest[n]} | ${r.shareOfACore[n]} | ${split} | ${r.rssAfterMb[n] ?? '-'} | ${idleRss[n] ?? '-'} |`);
  }
  md.push(`| whole stack (PSS) | | | ${r.rssAfterMb['whole stack']} | ${idleRss['whole stack']} |`);
  md.push('');
  md.push(
    'The self times below are sampled on each process\'s main thread only: the threadpool (scrypt, file writes) and V8\'s helper threads (GC, compilers) are in the split above, as is the profiler\'s own sampling thread.',
    '',
  );
  for (const [name, self] of Object.entries(r.topFunctions)) {
    if (!self.totalMs) continue;
    md.push(`<details><summary>${name}: top self time (${self.totalMs} ms sampled)</summary>`, '', '| function | module | ms |', '|---|---|---|');
    for (const f of self.functions) md.push(`| ${f.fn} | ${f.module} | ${f.ms} |`);
    md.push('', '</details>', '');
  }
}
await writeFile(join(resultsDir, 'profile.md'), `${md.join('\n')}\n`);
process.stdout.write(`${md.join('\n')}\n`);
await project.remove();
