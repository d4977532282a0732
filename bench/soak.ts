/**
 * bench/soak (reliability suite 7): the `mixed` scenario at a fixed rate for a long time
 * against a fresh local stack; zero errors expected, memory growth of every service reported.
 * The documented target is 10 minutes at half of measured capacity:
 *
 *   npm run soak -- --duration 600 --rate 300
 *
 * (CI does not run it.) Writes bench/results/soak.json.
 */
import { execa } from 'execa';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackStatus } from '../src/runtime/local/status';
import { createThrowawayProject } from '../test/support/throwaway-project';

const repoRoot = process.cwd();
const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const duration = arg('--duration', 600);
const rate = arg('--rate', 300);

const project = await createThrowawayProject(repoRoot);
const msctl = (args: string[]) =>
  execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], { env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' }, reject: false, timeout: (duration + 300) * 1000 });

async function memory(): Promise<Record<string, number>> {
  const status = JSON.parse(String((await msctl(['status', '--json'])).stdout)) as StackStatus;
  const result: Record<string, number> = {};
  for (const target of status.targets.filter((t) => t.kind === 'service' && t.port)) {
    const text = await (await fetch(`http://127.0.0.1:${target.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes'));
    result[target.name] = Number(line?.split(' ').at(-1) ?? 0);
  }
  return result;
}

try {
  const up = await msctl(['up', '-d']);
  if (up.exitCode !== 0) throw new Error(`msctl up failed: ${up.stderr}`);
  await msctl(['load-test', 'mixed', '--duration', '15', '--rate', String(rate), '--raise-rate-limit', String(rate * 4), '--json']);
  const before = await memory();
  process.stderr.write(`soak: mixed at ${rate} req/s for ${duration} s…\n`);
  const run = await msctl(['load-test', 'mixed', '--duration', String(duration), '--rate', String(rate), '--json']);
  const after = await memory();
  const result = JSON.parse(String(run.stdout).trim().split('\n').at(-1) ?? '{}') as { requests?: { total?: number }; errors?: unknown; statusCodes?: Record<string, number> };
  const growth = Object.fromEntries(Object.keys(after).map((name) => [name, { beforeMb: Math.round(before[name]! / 1e5) / 10, afterMb: Math.round(after[name]! / 1e5) / 10 }]));
  const summary = { benchmark: 'soak', when: new Date().toISOString(), durationSeconds: duration, rate, exitCode: run.exitCode, result, memory: growth };
  await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
  await writeFile(join(repoRoot, 'bench', 'results', 'soak.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify({ exitCode: run.exitCode, memory: growth })}\n`);
} finally {
  await msctl(['down', '-v']);
  await project.remove();
}
