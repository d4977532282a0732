/**
 * bench/up: how long `msctl up -d` takes to an all-healthy stack, against its own critical
 * path — the slowest chain of starts in the dependency graph, each start measured in the
 * same run. The ratio is what orchestration adds on top of what cannot be avoided.
 *
 *   npm run bench:up [-- --runs 5]
 *
 * Writes bench/results/up-<runtime>.json (BENCH_RUNTIME=local|docker, default local). The first run is cold (initdb, Kafka storage format); the
 * others are warm (data kept between runs, as in a developer's loop).
 */
import { execa } from 'execa';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { ProgressEvent } from '../src/core/events';
import { loadProject } from '../src/stack/project';
import { createThrowawayProject } from '../test/support/throwaway-project';

// Run from the repository root (npm run sets it); the bundled copy of this file lives elsewhere.
const repoRoot = process.cwd();
const runtime = process.env.BENCH_RUNTIME ?? 'local';
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg === -1 ? 4 : Number(process.argv[runsArg + 1]);

interface Run {
  kind: 'cold' | 'warm';
  wallMs: number;
  criticalPathMs: number;
  criticalPath: string[];
  ratio: number;
  startMs: Record<string, number>;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

const project = await createThrowawayProject(repoRoot);
const msctl = (args: string[]) =>
  execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), ...args, '--project-dir', project.dir], { env: { ...project.env, NO_COLOR: '1', MSCTL_RUNTIME: runtime }, reject: false });

const results: Run[] = [];
try {
  const stack = await loadProject(project.dir, { ...process.env, ...project.env });
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const up = await msctl(['up', '-d', '--json']);
    const wallMs = Math.round(performance.now() - started);
    if (up.exitCode !== 0) throw new Error(`msctl up failed:\n${up.stdout}\n${up.stderr}`);
    const events = String(up.stdout).split('\n').filter(Boolean).map((line) => JSON.parse(line) as ProgressEvent);
    const startedAt = new Map<string, number>();
    const startMs: Record<string, number> = {};
    for (const event of events) {
      if (event.type !== 'target') continue;
      if (event.phase === 'starting' && !startedAt.has(event.target)) startedAt.set(event.target, Date.parse(event.at));
      if (event.phase === 'healthy' && startedAt.has(event.target)) startMs[event.target] = Date.parse(event.at) - startedAt.get(event.target)!;
    }
    const critical = stack.graph.criticalPath((name) => startMs[name] ?? 0);
    results.push({
      kind: i === 0 ? 'cold' : 'warm',
      wallMs,
      criticalPathMs: critical.total,
      criticalPath: critical.path,
      ratio: Math.round((wallMs / critical.total) * 100) / 100,
      startMs,
    });
    process.stderr.write(`run ${i + 1}/${runs} (${results.at(-1)!.kind}): up ${wallMs} ms, critical path ${critical.total} ms (${critical.path.join(' → ')})\n`);
    const down = await msctl(['down']);
    if (down.exitCode !== 0) throw new Error(`msctl down failed:\n${down.stderr}`);
  }
} finally {
  await msctl(['down', '-v']);
  if (runtime === 'docker') {
    // The stack's service images are tagged with the throwaway project's name.
    const name = project.dir.split('/').at(-1)!.toLowerCase();
    const images = String((await execa('docker', ['images', '--filter', `reference=msctl/${name}-*`, '-q'], { reject: false })).stdout).trim();
    if (images) await execa('docker', ['rmi', '-f', ...images.split('\n')], { reject: false });
  }
  await project.remove();
}

const warm = results.filter((run) => run.kind === 'warm');
const summary = {
  benchmark: 'up',
  runtime,
  when: new Date().toISOString(),
  machine: { cpus: cpus().length, node: process.version },
  runs: results,
  warm: warm.length
    ? { medianWallMs: median(warm.map((r) => r.wallMs)), medianCriticalPathMs: median(warm.map((r) => r.criticalPathMs)), medianRatio: Math.round(median(warm.map((r) => r.ratio)) * 100) / 100 }
    : null,
};
await mkdir(join(repoRoot, 'bench', 'results'), { recursive: true });
await writeFile(join(repoRoot, 'bench', 'results', `up-${runtime}.json`), `${JSON.stringify(summary, null, 2)}\n`);
process.stdout.write(`${JSON.stringify(summary.warm)}\n`);
