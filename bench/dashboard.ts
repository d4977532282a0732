/**
 * bench/dashboard: CPU used by `msctl dashboard` polling at 1 Hz for 30 s against a running
 * throwaway stack (5 services, Kafka, PostgreSQL on the local runtime), as a share of one
 * core. Two peers in one run: the ink view in a real terminal (tmux, 160×50) and the same
 * poller streaming --json (no rendering). CPU is utime+stime from /proc/<pid>/stat, read
 * after a warm-up and again 30 s later.
 *
 *   npm run bench:dashboard [-- --seconds 30]
 *
 * Writes bench/results/dashboard.json.
 */
import { execa, execaSync } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createThrowawayProject } from '../test/support/throwaway-project';

const repoRoot = process.cwd();
const secondsArg = process.argv.indexOf('--seconds');
const seconds = secondsArg === -1 ? 30 : Number(process.argv[secondsArg + 1]);
const warmupSeconds = 5;
const clockTicks = Number(execaSync('getconf', ['CLK_TCK']).stdout.trim()) || 100;
const binary = join(repoRoot, 'bin', 'msctl.js');

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function usage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": field 3 is state, so utime (14) and stime (15) are at 11 and 12; rss (24) at 21.
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / clockTicks;
  const rssBytes = Number(fields[21]) * 4096;
  return { cpuSeconds, rssBytes };
}

async function measure(pid: number): Promise<{ cpuSeconds: number; shareOfOneCore: number; rssBytes: number }> {
  await sleep(warmupSeconds * 1000);
  const before = usage(pid);
  const started = performance.now();
  await sleep(seconds * 1000);
  const after = usage(pid);
  const wall = (performance.now() - started) / 1000;
  const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return { cpuSeconds: Math.round(cpuSeconds * 1000) / 1000, shareOfOneCore: Math.round((cpuSeconds / wall) * 10_000) / 10_000, rssBytes: after.rssBytes };
}

const project = await createThrowawayProject(repoRoot);
const env = { ...project.env, MSCTL_RUNTIME: 'local' };
const msctl = (args: string[]) => execa(process.execPath, [binary, ...args, '--project-dir', project.dir], { env: { ...env, NO_COLOR: '1' }, reject: false });
const session = `msctl-bench-dashboard-${process.pid}`;

try {
  const up = await msctl(['up', '-d']);
  if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);

  // 1. The ink view in a real terminal. `exec` makes the pane's process the dashboard itself.
  const envFlags = Object.entries({ ...env, TERM: 'xterm-256color' }).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
  execaSync('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '50', ...envFlags, `exec '${process.execPath}' '${binary}' dashboard --interval 1 --project-dir '${project.dir}'`]);
  const ttyPid = Number(execaSync('tmux', ['list-panes', '-t', session, '-F', '#{pane_pid}']).stdout.trim());
  const tty = await measure(ttyPid);
  const screen = String(execaSync('tmux', ['capture-pane', '-p', '-t', session]).stdout);
  if (!/CIRCUIT BREAKERS/.test(screen)) throw new Error(`the dashboard did not show:\n${screen}`);
  execaSync('tmux', ['send-keys', '-t', session, 'q']);
  await sleep(1000);
  execaSync('tmux', ['kill-session', '-t', session], { reject: false });

  // 2. The same poller without rendering: --json to a pipe.
  const child = execa(process.execPath, [binary, 'dashboard', '--json', '--interval', '1', '--project-dir', project.dir], { env: { ...env, NO_COLOR: '1' }, reject: false });
  let snapshots = 0;
  child.stdout!.on('data', (chunk: Buffer) => (snapshots += chunk.toString().split('\n').length - 1));
  const json = await measure(child.pid!);
  child.kill('SIGINT');
  await child;

  const result = {
    benchmark: 'dashboard',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
    intervalSeconds: 1,
    kafkaIntervalSeconds: 2,
    windowSeconds: seconds,
    warmupSeconds,
    stack: '5 services + Kafka + PostgreSQL, local runtime, idle',
    tty: { ...tty, terminal: 'tmux 160x50' },
    json: { ...json, snapshots },
    ratioTtyToJson: json.cpuSeconds > 0 ? Math.round((tty.cpuSeconds / json.cpuSeconds) * 100) / 100 : null,
  };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'dashboard.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  execaSync('tmux', ['kill-session', '-t', session], { reject: false });
  await msctl(['down', '-v']);
  await project.remove();
}
