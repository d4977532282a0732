/**
 * How a bench names a load: `name[@rate]`, where the name is a built-in scenario, a file of
 * bench/scenarios or a path, and the rate (requests per second) runs it on a fixed schedule
 * (`msctl load-test --rate`, open model) rather than as fast as it goes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The benches run from the repository's root (npm run), bundled into a cache folder. */
export const BENCH_SCENARIOS_DIR = join(process.cwd(), 'bench', 'scenarios');

export function scenarioRun(entry: string, seconds: number, connections: number): { scenario: string; args: string[]; rate: number | null } {
  const [name, rateText, ...rest] = entry.split('@') as [string, string | undefined, ...string[]];
  const rate = rateText === undefined ? null : Number(rateText);
  if (!name || rest.length > 0 || (rate !== null && !(rate > 0))) throw new Error(`--scenarios ${entry}: a scenario, then @ and requests per second if fixed, e.g. users-me@600`);
  const file = join(BENCH_SCENARIOS_DIR, `${name}.yaml`);
  const target = existsSync(file) ? file : name;
  const args = ['load-test', target, '--duration', String(seconds), '--connections', String(connections), '--json', ...(rate === null ? [] : ['--rate', String(rate)])];
  return { scenario: entry, args, rate };
}
