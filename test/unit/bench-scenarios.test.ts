/**
 * bench:profile prices the users scenario's kinds of request one at a time, from the files in
 * bench/scenarios: each must stay the very request the built-in scenario sends.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_SCENARIOS_DIR, scenarioRun } from '../../bench/scenario-run';
import { builtInScenario, parseCustomScenario } from '../../src/load/scenarios';

const kinds = ['users-me', 'users-patch', 'users-signup'];

async function kind(name: string) {
  const file = join(BENCH_SCENARIOS_DIR, `${name}.yaml`);
  return parseCustomScenario(await readFile(file, 'utf8'), file).templates;
}

describe('the users scenario, one kind of request at a time', () => {
  it('each file is one request of the built-in users scenario, as it sends it', async () => {
    const users = builtInScenario('users', 'run');
    const files = await Promise.all(kinds.map(kind));
    for (const templates of files) expect(templates).toHaveLength(1);
    const sent = files.map(([template]) => ({ ...template!, weight: 0 }));
    expect(sent).toEqual(users.map((template) => ({ ...template, weight: 0 })));
  });
});

describe('scenarioRun', () => {
  it('runs a file of bench/scenarios by its name, at the rate after @', () => {
    const run = scenarioRun('users-patch@300', 20, 16);
    expect(run.rate).toBe(300);
    expect(run.args).toEqual(['load-test', join(BENCH_SCENARIOS_DIR, 'users-patch.yaml'), '--duration', '20', '--connections', '16', '--json', '--rate', '300']);
  });

  it('passes a built-in scenario through, as fast as it goes without a rate', () => {
    const run = scenarioRun('users', 15, 16);
    expect(run.rate).toBeNull();
    expect(run.args).toEqual(['load-test', 'users', '--duration', '15', '--connections', '16', '--json']);
  });

  it('refuses a rate that is not a number of requests per second', () => {
    for (const entry of ['users@', 'users@0', 'users@fast', 'users@1@2', '@5']) expect(() => scenarioRun(entry, 15, 16)).toThrow(/e\.g\. users-me@600/);
  });
});
