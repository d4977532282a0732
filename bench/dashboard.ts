/**
 * bench/dashboard: CPU (share of one core) and resident memory of `msctl dashboard` polling
 * at 1 Hz against a running throwaway stack (5 services, Kafka, PostgreSQL on the local
 * runtime). Four peers per stack: the ink view in a real terminal (tmux, 160×50), the same
 * with the log pane open on a service, the poller streaming --json (no rendering), and, as the
 * floor for the view, ink alone keeping a screen of the same shape up to date once a second
 * (bench/ink-floor.ts, which polls nothing) in the same terminal. CPU is
 * utime+stime from /proc/<pid>/stat, read after a warm-up and again `--seconds` later; RSS is
 * read at the end.
 *
 * Two stacks' worth of figures: a fresh idle stack, then the same stack once it has history
 * (a short load test, ~1 M messages produced to four more topics with a consumer group behind
 * on them, and ~22 MB of service logs), idle again. A dashboard's cost must not grow with that
 * history.
 *
 *   npm run bench:dashboard [-- --seconds 30] [--messages 1000000] [--fresh-only]
 *                           [--profile <dir>]   (--cpu-prof of every dashboard process)
 *                           [--young 4,8]       (peers: each mode once per cap on V8's young
 *                                                generation, MB a semi-space, instead of the
 *                                                launcher's own)
 *
 * Writes bench/results/dashboard.json.
 */
import { execa, execaSync } from 'execa';
import { Kafka, logLevel } from 'kafkajs';
import { appendFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../src/core/sleep';
import { createThrowawayProject } from '../test/support/throwaway-project';
import { cpuSecondsOf, statFields } from './proc';

const repoRoot = process.cwd();
const option = (name: string): string | undefined => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? undefined : process.argv[index + 1];
};
const seconds = Number(option('seconds') ?? 30);
const messages = Number(option('messages') ?? 1_000_000);
const freshOnly = process.argv.includes('--fresh-only');
const profileDir = option('profile');
const youngCaps = option('young')?.split(',').map(Number);
if (youngCaps?.some((cap) => !Number.isInteger(cap) || cap <= 0)) throw new Error(`--young ${option('young')}: a list of whole MB, e.g. 4,8`);
const warmupSeconds = 5;
const binary = join(repoRoot, 'bin', 'msctl.js');
const log = (text: string) => process.stderr.write(`${text}\n`);

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function usage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const cpuSeconds = cpuSecondsOf(pid);
  const fields = statFields(pid);
  if (cpuSeconds === null || !fields) throw new Error(`process ${pid} is gone`);
  return { cpuSeconds, rssBytes: Number(fields[21]) * 4096 };
}

interface Measure {
  cpuSeconds: number;
  shareOfOneCore: number;
  rssBytes: number;
  rssMB: number;
}

async function measure(pid: number): Promise<Measure> {
  await sleep(warmupSeconds * 1000);
  const before = usage(pid);
  const started = performance.now();
  await sleep(seconds * 1000);
  const after = usage(pid);
  const wall = (performance.now() - started) / 1000;
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
    shareOfOneCore: Math.round((cpuSeconds / wall) * 10_000) / 10_000,
    rssBytes: after.rssBytes,
    rssMB: Math.round(after.rssBytes / 1024 / 1024),
  };
}

const project = await createThrowawayProject(repoRoot);
const env = { ...project.env, MSCTL_RUNTIME: 'local' };
const msctl = (args: string[]) => execa(process.execPath, [binary, ...args, '--project-dir', project.dir], { env: { ...env, NO_COLOR: '1' }, reject: false });
const session = `msctl-bench-dashboard-${process.pid}`;
let profiles = 0;
/** Node flags for a dashboard process: a CPU profile per run when asked. */
const nodeFlags = () => (profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=dashboard-${++profiles}.cpuprofile`] : []);

const paneText = () => String(execaSync('tmux', ['capture-pane', '-p', '-t', session]).stdout);
const serviceRows = (screen: string) =>
  screen
    .split('\n')
    .map((row) => /^[›\s]\s(\S+)\s+local\s/.exec(row)?.[1])
    .filter((name): name is string => name !== undefined);
const selectedRow = (screen: string) => /^›\s(\S+)\s+local\s/m.exec(screen)?.[1];

/** The pane's text once `ready` holds for it (the dashboard draws late on a busy machine). */
async function screenUntil(ready: (screen: string) => boolean, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const screen = paneText();
    if (ready(screen)) return screen;
    if (Date.now() > deadline) throw new Error(`the dashboard did not get there in ${timeoutMs / 1000} s:\n${screen}`);
    await sleep(200);
  }
}

/** The dashboard's own environment: a peer's young-generation cap, set here so that the launcher keeps it. */
type PeerEnv = Record<string, string>;

/** Starts `words` as the process of a new 160×50 tmux pane (`exec`: the pane's process is it), and returns its pid. */
function startInTmux(words: string[], peerEnv: PeerEnv): number {
  const envFlags = Object.entries({ ...env, ...peerEnv, TERM: 'xterm-256color' }).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  execaSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '50', ...envFlags, `exec ${words.map((word) => `'${word}'`).join(' ')}`]);
  return Number(execaSync('tmux', ['list-panes', '-t', session, '-F', '#{pane_pid}']).stdout.trim());
}

/** The ink view in a real terminal; with `logsOf`, the log pane open on that service. */
async function measureTty(logsOf?: string, peerEnv: PeerEnv = {}): Promise<Measure & { terminal: string }> {
  const pid = startInTmux([process.execPath, ...nodeFlags(), binary, 'dashboard', '--interval', '1', '--project-dir', project.dir], peerEnv);
  try {
    if (logsOf) {
      // The services are listed in start order: move the selection down to `logsOf`, one key at
      // a time (keys arriving in one read are one input to ink), each once the screen shows the
      // previous one took effect, then open its log.
      const selected = await screenUntil((screen) => selectedRow(screen) !== undefined && serviceRows(screen).includes(logsOf));
      for (let at = serviceRows(selected).indexOf(selectedRow(selected)!); serviceRows(selected)[at] !== logsOf; at += 1) {
        execaSync('tmux', ['send-keys', '-t', session, 'j']);
        const next = serviceRows(selected)[at + 1];
        await screenUntil((screen) => selectedRow(screen) === next);
      }
      execaSync('tmux', ['send-keys', '-t', session, 'l']);
      await screenUntil((screen) => screen.includes(`LOGS ${logsOf}`));
    }
    const result = await measure(pid);
    const screen = String(execaSync('tmux', ['capture-pane', '-p', '-t', session]).stdout);
    if (!/CIRCUIT BREAKERS/.test(screen)) throw new Error(`the dashboard did not show:\n${screen}`);
    if (logsOf && !screen.includes(`LOGS ${logsOf}`)) throw new Error(`the log pane of ${logsOf} did not show:\n${screen}`);
    execaSync('tmux', ['send-keys', '-t', session, 'q']);
    await sleep(1000);
    return { ...result, terminal: 'tmux 160x50' };
  } finally {
    execaSync('tmux', ['kill-session', '-t', session], { reject: false });
  }
}

/**
 * The floor for the view: ink alone keeping a screen of the same shape up to date once a second
 * (bench/ink-floor.ts), in the same terminal, with the young-generation cap the launcher gives the
 * dashboard (or the peer's).
 */
async function measureInkFloor(peerEnv: PeerEnv = {}): Promise<Measure & { terminal: string }> {
  const flags = peerEnv.NODE_OPTIONS ? [] : ['--max-semi-space-size=4'];
  const pid = startInTmux([process.execPath, ...flags, join(repoRoot, 'scripts', 'run-ts.mjs'), join(repoRoot, 'bench', 'ink-floor.ts')], peerEnv);
  try {
    const result = await measure(pid);
    const screen = paneText();
    if (!screen.includes('ink floor')) throw new Error(`the ink floor did not show:\n${screen}`);
    execaSync('tmux', ['send-keys', '-t', session, 'q']);
    await sleep(1000);
    return { ...result, terminal: 'tmux 160x50' };
  } finally {
    execaSync('tmux', ['kill-session', '-t', session], { reject: false });
  }
}

/** The same poller without rendering: --json to a pipe. */
async function measureJson(peerEnv: PeerEnv = {}): Promise<Measure & { snapshots: number }> {
  const child = execa(process.execPath, [...nodeFlags(), binary, 'dashboard', '--json', '--interval', '1', '--project-dir', project.dir], { env: { ...env, ...peerEnv, NO_COLOR: '1' }, reject: false });
  let snapshots = 0;
  child.stdout!.on('data', (chunk: Buffer) => (snapshots += chunk.toString().split('\n').length - 1));
  const result = await measure(child.pid!);
  child.kill('SIGINT');
  await child;
  return { ...result, snapshots };
}

const logsOf = 'users';
/** Every mode; with --young, every mode once per cap, the caps taking turns within each mode. */
async function measureAll(): Promise<Record<string, unknown>> {
  const caps = youngCaps ?? [undefined];
  const runs = new Map<number | undefined, { tty?: Measure; ttyLogs?: Measure; json?: Measure & { snapshots: number }; inkFloor?: Measure }>(caps.map((cap) => [cap, {}]));
  const peerEnv = (cap: number | undefined): PeerEnv => (cap === undefined ? {} : { NODE_OPTIONS: `--max-semi-space-size=${cap}` });
  for (const cap of caps) runs.get(cap)!.tty = await measureTty(undefined, peerEnv(cap));
  for (const cap of caps) runs.get(cap)!.ttyLogs = await measureTty(logsOf, peerEnv(cap));
  for (const cap of caps) runs.get(cap)!.json = await measureJson(peerEnv(cap));
  for (const cap of caps) runs.get(cap)!.inkFloor = await measureInkFloor(peerEnv(cap));
  const modes = ({ tty, ttyLogs, json, inkFloor }: { tty?: Measure; ttyLogs?: Measure; json?: Measure; inkFloor?: Measure }) => ({
    tty,
    ttyLogs: { ...ttyLogs, logPane: logsOf },
    json,
    inkFloor,
    // What the view costs above polling, beside what ink alone costs for a screen of its shape.
    viewAboveJson: tty && json ? Math.round((tty.shareOfOneCore - json.shareOfOneCore) * 10_000) / 10_000 : null,
    ratioTtyToJson: tty && json && json.cpuSeconds > 0 ? Math.round((tty.cpuSeconds / json.cpuSeconds) * 100) / 100 : null,
  });
  if (!youngCaps) return modes(runs.get(undefined)!);
  return { byYoungMB: Object.fromEntries([...runs].map(([cap, run]) => [String(cap), modes(run)])) };
}

/** What a stack has seen after a few load runs: traffic, a million messages, big logs. */
async function makeHistory(): Promise<Record<string, unknown>> {
  const load = await msctl(['load-test', 'mixed', '--duration', '15', '--connections', '8', '--raise-rate-limit']);
  if (load.exitCode !== 0 && load.exitCode !== 3) throw new Error(`msctl load-test failed:\n${load.stdout}\n${load.stderr}`);

  const kafka = new Kafka({ clientId: 'bench-dashboard', brokers: [`127.0.0.1:${project.env.MSCTL_KAFKA_PORT}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await Promise.all([admin.connect(), producer.connect()]);
  const topics = ['history.a', 'history.b', 'history.c', 'history.d'];
  const partitions = 3;
  try {
    await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })), waitForLeaders: true });
    const perTopic = Math.ceil(messages / topics.length);
    const value = JSON.stringify({ type: 'page.viewed', subject: 'user-0000', payload: { path: '/products/1234', ms: 12 } });
    const batch = 5_000;
    for (const topic of topics) {
      for (let sent = 0; sent < perTopic; sent += batch) {
        const count = Math.min(batch, perTopic - sent);
        await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ partition: (sent + i) % partitions, value })) });
      }
    }
    // A consumer group that stopped half-way: lag on every partition.
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId: 'history.reader', topic, partitions: ends.map((p) => ({ partition: p.partition, offset: String(Math.floor(Number(p.high) / 2)) })) });
    }
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect()]);
  }

  // ~22 MB of service logs, as the services write them (stamped pino lines), under the rotation size.
  const logsDir = join(project.dir, '.msctl', 'logs');
  const services = Object.keys(project.ports);
  const perService = Math.floor((22 * 1024 * 1024) / services.length);
  let logBytes = 0;
  for (const service of services) {
    const lines: string[] = [];
    let bytes = 0;
    for (let i = 0; bytes < perService; i++) {
      const line = `${new Date().toISOString()}\t{"level":30,"time":${Date.now()},"service":"${service}","msg":"request completed","req":{"method":"GET","url":"/users/me"},"res":{"statusCode":200},"responseTime":${i % 50}}\n`;
      lines.push(line);
      bytes += Buffer.byteLength(line);
    }
    appendFileSync(join(logsDir, `${service}.log`), lines.join(''));
    logBytes += bytes;
  }
  // Let the consumers finish the load test's events: the stack is idle again.
  await sleep(15_000);
  return { loadTestSeconds: 15, topicsAdded: topics.length, partitionsPerTopic: partitions, messagesProduced: messages, laggingGroup: 'history.reader', logBytesAppended: logBytes };
}

try {
  if (profileDir) await mkdir(profileDir, { recursive: true });
  const up = await msctl(['up', '-d']);
  if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);

  log('measuring the fresh stack…');
  const fresh = await measureAll();
  let history: Record<string, unknown> | undefined;
  if (!freshOnly) {
    log('giving the stack a history…');
    const made = await makeHistory();
    log('measuring the stack with history…');
    history = { ...made, ...(await measureAll()) };
  }

  const result = {
    benchmark: 'dashboard',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    intervalSeconds: 1,
    kafkaIntervalSeconds: 2,
    windowSeconds: seconds,
    warmupSeconds,
    stack: '5 services + Kafka + PostgreSQL, local runtime, idle',
    budget: { shareOfOneCore: 0.03, rssMB: 120 },
    fresh,
    ...(history ? { history } : {}),
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'dashboard.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  execaSync('tmux', ['kill-session', '-t', session], { reject: false });
  await msctl(['down', '-v']);
  await project.remove();
}
