/**
 * `msctl restart <svc>` replaces a service without failing a request: the new instance starts on
 * another port and must be healthy first, the gateway switches to it once the old one has
 * answered what it had in flight, and the old one drains and stops. Asserted with a real load
 * run through the gateway during five restarts of users: every request answered 2xx.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { LoadResult } from '../../src/load/types';
import { stackForThisFile } from '../support/running-stack';
import { sleep } from '../../src/core/sleep';

const stack = stackForThisFile();

describe('restarts without downtime on the local runtime', () => {
  it('a load run through the gateway during five restarts of users has no failed request', async () => {
    const slo = join(stack.project().dir, 'lenient.yaml');
    await writeFile(slo, 'all: { p99Ms: 60000 }\n');
    const users = async () => (await stack.status()).targets.find((target) => target.name === 'users')!;
    const initial = await users();
    const load = stack.run(['load-test', 'users', '--duration', '20', '--connections', '8', '--users', '4', '--raise-rate-limit', '100000', '--slo', slo, '--json']);
    // The restarts start once the run has raised the limits: it restarts the gateway, then users, to apply them.
    await waitFor(async () => (await users()).restarts === initial.restarts + 1);
    const before = await users();
    const restarts: number[] = [];
    for (let round = 0; round < 5; round++) {
      const restart = await stack.run(['restart', 'users']);
      expect(restart.exitCode, `${restart.stdout}\n${restart.stderr}`).toBe(0);
      restarts.push((await stack.status()).targets.find((target) => target.name === 'users')!.pid!);
    }
    const result = await load;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const report = JSON.parse(String(result.stdout)) as LoadResult;
    expect(report.totals.requests).toBeGreaterThan(0);
    const failed = Object.fromEntries(Object.entries(report.totals.statusCodes).filter(([code]) => !code.startsWith('2')));
    expect({ non2xx: report.totals.non2xx, errors: report.totals.errors, failed, errorsByCode: report.totals.errorsByCode }).toEqual({ non2xx: 0, errors: 0, failed: {}, errorsByCode: {} });
    // Five new processes, one after the other, each counted.
    expect(new Set([before.pid, ...restarts]).size).toBe(6);
    const after = (await stack.status()).targets.find((target) => target.name === 'users')!;
    expect(after.restarts).toBe(before.restarts + 5);
    expect(after.state).toBe('healthy');
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(200);
  }
}
