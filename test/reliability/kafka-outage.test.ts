/**
 * Suite 1, Kafka outage: ingest at a fixed rate, stop Kafka with `msctl chaos stop kafka`,
 * start it again. Every event answered 2xx is counted exactly once by analytics; events
 * refused meanwhile got 503 with Retry-After; users created during the outage reach
 * users.events from the outbox after recovery. Zero lost, zero double-counted.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { repoRoot } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';

const stack = stackForThisFile();
const { gateway, post } = stack;

describe('Kafka outage', () => {
  it('loses nothing it accepted, counts nothing twice, refuses with 503 + Retry-After meanwhile', async () => {
    // The default rate limit (100/s per client) is well above this test's 25 requests/s.
    const suffix = uniqueSuffix();
    const type = `outage.t${suffix}`;
    expect((await post('/api/users', { username: `outage_${suffix}`, email: `outage_${suffix}@example.test`, password: 'a long enough password' })).status).toBe(201);
    const { accessToken } = (await (await post('/api/auth/token', { username: `outage_${suffix}`, password: 'a long enough password' })).json()) as { accessToken: string };

    let accepted = 0;
    let refused = 0;
    const refusedWithoutRetryAfter: number[] = [];
    const unexpected: string[] = [];
    const pending: Array<Promise<void>> = [];
    let sending = true;
    const sender = (async () => {
      while (sending) {
        pending.push(
          post('/api/events', { type, data: { n: pending.length } }, accessToken).then(
            async (response) => {
              await response.body?.cancel();
              if (response.status === 202) accepted += 1;
              else if (response.status === 503) {
                refused += 1;
                if (!response.headers.get('retry-after')) refusedWithoutRetryAfter.push(response.status);
              } else unexpected.push(String(response.status));
            },
            (error: unknown) => void unexpected.push((error as Error).name),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();

    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const chaos = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'chaos', 'stop', 'kafka', '--for', '12s', '--project-dir', stack.project().dir], {
      env: { ...stack.project().env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
    });
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    // Users do not need Kafka to sign up: their events wait in the outbox.
    const during: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post('/api/users', { username: `during_${suffix}_${i}`, email: `during_${suffix}_${i}@example.test`, password: 'a long enough password' });
      expect(response.status).toBe(201);
      during.push(((await response.json()) as { id: string }).id);
    }
    const chaosResult = await chaos;
    expect(chaosResult.exitCode, String(chaosResult.stderr)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    sending = false;
    await sender;
    await Promise.all(pending);

    process.stderr.write(`[kafka outage] sent ${pending.length}, accepted ${accepted}, refused ${refused} (503), other ${unexpected.length}\n`);
    expect(unexpected).toEqual([]);
    expect(refusedWithoutRetryAfter).toEqual([]);
    expect(accepted).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);

    const counted = await eventually(async () => {
      const summary = (await (await fetch(`${gateway()}/api/analytics/summary`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as { byType: Record<string, number> };
      const n = summary.byType[type] ?? 0;
      return n >= accepted ? n : undefined;
    }, 90_000, `analytics to count ${accepted} accepted events`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const settled = ((await (await fetch(`${gateway()}/api/analytics/summary`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as { byType: Record<string, number> }).byType[type];
    process.stderr.write(`[kafka outage] counted ${settled}\n`);
    expect(counted).toBe(accepted);
    expect(settled).toBe(accepted);

    const published = await eventually(async () => {
      const { stdout } = await execa('kcat', ['-b', `127.0.0.1:${stack.project().env.MSCTL_KAFKA_PORT}`, '-C', '-t', 'users.events', '-o', 'beginning', '-e', '-q', '-f', '%k\\n'], { timeout: 20_000 });
      const keys = new Set(stdout.split('\n'));
      return during.every((id) => keys.has(id)) ? keys : undefined;
    }, 60_000, 'the users created during the outage to reach users.events');
    expect(during.every((id) => published.has(id))).toBe(true);
  });
});
