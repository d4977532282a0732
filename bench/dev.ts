/**
 * bench/dev: the time from a saved file to the new code answering through the gateway, for one
 * service (users), with `msctl dev` watching, beside the loop without it: save, then
 * `msctl restart users` (which rebuilds what is stale, then replaces the service).
 *
 *   npm run bench:dev [-- --rounds 5]
 *
 * Each round edits users' conflict message and polls the gateway (a duplicate sign-up, every
 * 20 ms) until the new message answers. Writes bench/results/dev.json. The goal is under 2 s.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createThrowawayProject } from '../test/support/throwaway-project';
import { sleep } from '../src/core/sleep';

const repoRoot = process.cwd();
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg === -1 ? 5 : Number(process.argv[roundsArg + 1]);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const project = await createThrowawayProject(repoRoot, { sources: true });
const env = { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' };
const msctl = (args: string[]) => execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], { env, reject: false });
const gateway = `http://127.0.0.1:${project.ports.gateway}`;
const source = join(project.dir, 'services', 'users', 'src', 'service.ts');
const original = await readFile(source, 'utf8');
const body = JSON.stringify({ username: 'bench_dev', email: 'bench_dev@example.test', password: 'a long enough password' });
const conflictMessage = async () => {
  const answer = await fetch(`${gateway}/api/users`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return answer.status === 409 ? ((await answer.json()) as { message: string }).message : `status ${answer.status}`;
};

/** Saves round `n`'s edit, then polls until the gateway answers with it: the milliseconds between. */
async function saveAndWait(marker: string): Promise<number> {
  const saved = performance.now();
  await writeFile(source, original.replace('is already taken`', `is already taken (${marker})\``));
  const deadline = saved + 60_000;
  while (!(await conflictMessage()).includes(marker)) {
    if (performance.now() > deadline) throw new Error(`the gateway never answered with ${marker}`);
    await sleep(20);
  }
  return Math.round(performance.now() - saved);
}

interface Reloaded {
  type: 'reloaded';
  service: string;
  buildMs: number;
  typecheckMs: number;
  restartMs: number;
}

let dev: ResultPromise | undefined;
const result = { dev: [] as number[], devSteps: [] as Reloaded[], restart: [] as number[] };
try {
  // Sign-ups from one address, many a second: the per-address limit would answer 429.
  await mkdir(join(project.dir, '.msctl'), { recursive: true });
  await writeFile(join(project.dir, '.msctl', 'settings.json'), JSON.stringify({ rateLimitPerSecond: 100_000 }));
  dev = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'dev', 'gateway', 'users', '--json', '--project-dir', project.dir], { env, reject: false, stdin: 'ignore' });
  let devExited = false;
  void dev.finally(() => {
    devExited = true;
  });
  const events: Array<{ type: string; buildMs?: number; typecheckMs?: number; restartMs?: number; service?: string }> = [];
  createInterface({ input: dev.stdout! }).on('line', (line) => line.startsWith('{"type":') && events.push(JSON.parse(line)));
  while (!events.some((event) => event.type === 'watching')) {
    if (devExited) throw new Error(`msctl dev exited: ${String((await dev).stderr)}`);
    await sleep(200);
  }
  await conflictMessage();
  for (let round = 0; round < rounds; round++) {
    result.dev.push(await saveAndWait(`dev ${round}`));
    // Its restart is over once the event says so; the next save starts from a settled stack.
    while (events.filter((event) => event.type === 'reloaded').length <= round) await sleep(50);
  }
  result.devSteps = events.filter((event) => event.type === 'reloaded') as Reloaded[];
  dev.kill('SIGINT');
  await dev;
  dev = undefined;
  for (let round = 0; round < rounds; round++) {
    const marker = `restart ${round}`;
    const started = performance.now();
    await writeFile(source, original.replace('is already taken`', `is already taken (${marker})\``));
    const restarted = await msctl(['restart', 'users']);
    if (restarted.exitCode !== 0) throw new Error(`msctl restart failed: ${String(restarted.stderr)}`);
    while (!(await conflictMessage()).includes(marker)) await sleep(20);
    result.restart.push(Math.round(performance.now() - started));
  }
} finally {
  dev?.kill('SIGINT');
  await dev;
  await msctl(['down', '-v']);
  await project.remove();
}

const summary = {
  benchmark: 'dev',
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  what: 'ms from a saved edit of users to the gateway answering with the new code: msctl dev watching, vs save + msctl restart users',
  goalMs: 2000,
  rounds,
  devMedianMs: median(result.dev),
  restartMedianMs: median(result.restart),
  ratio: Math.round((median(result.dev) / median(result.restart)) * 100) / 100,
  devSteps: {
    buildMs: median(result.devSteps.map((step) => step.buildMs!)),
    typecheckMs: median(result.devSteps.map((step) => step.typecheckMs!)),
    restartMs: median(result.devSteps.map((step) => step.restartMs!)),
  },
  devMs: result.dev,
  restartMs: result.restart,
};
await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
await writeFile(join(repoRoot, 'bench', 'results', 'dev.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(`save → new code through the gateway (median of ${rounds}): msctl dev ${summary.devMedianMs} ms (build ${summary.devSteps.buildMs} ms, type check ${summary.devSteps.typecheckMs} ms, restart ${summary.devSteps.restartMs} ms); save + msctl restart ${summary.restartMedianMs} ms; ratio ${summary.ratio}; goal < ${summary.goalMs} ms`);
