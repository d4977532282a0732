/**
 * Suite 3 (crash) and suite 4 (SIGTERM under load) on a real local stack:
 * - kill -9 of users under load: the supervisor restarts it, the gateway's breaker for it
 *   opens and closes again, and every request ends with an answer — 2xx, or a clean 502/503
 *   JSON error — none hangs;
 * - `msctl restart analytics` while events flow: no ingest request fails, analytics commits
 *   its offsets on the way down, and counts every accepted event exactly once.
 */
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { repoRoot } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';

const stack = stackForThisFile();
const { run, status, gateway } = stack;
let token: string;
const call = (method: string, path: string, body?: unknown) =>
  fetch(`${gateway()}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    // Far above any timeout in the stack: reaching it means a request hung.
    signal: AbortSignal.timeout(20_000),
  });

interface Outcome {
  status: number | 'hung' | 'error';
  json: boolean;
}

/** Fires a request every `everyMs` until stopped; records how each one ended. */
function loadLoop(send: (n: number) => Promise<Response>, everyMs: number) {
  const outcomes: Array<Promise<Outcome>> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      outcomes.push(
        send(outcomes.length).then(
          async (response) => {
            const text = await response.text();
            let json = false;
            try {
              JSON.parse(text);
              json = true;
            } catch {
              json = false;
            }
            return { status: response.status, json };
          },
          (error: unknown) => ({ status: (error as Error).name === 'TimeoutError' ? ('hung' as const) : ('error' as const), json: false }),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return Promise.all(outcomes);
    },
  };
}

beforeAll(async () => {
  ({ token } = await stack.login(`crash_${uniqueSuffix()}`));
});

describe('reliability', () => {
  it('kill -9 of users under load: restarted, the gateway breaker opens and closes, no request hangs', async () => {
    const usersPid = (await status()).targets.find((t) => t.name === 'users')!.pid!;
    const load = loadLoop(() => call('GET', '/api/users/me'), 20);
    const breakerStates = new Set<string>();
    let latest = 'unknown';
    const watch = setInterval(() => {
      fetch(`${gateway()}/health`)
        .then((response) => response.json() as Promise<{ circuits: Array<{ name: string; state: string }> }>)
        .then((health) => {
          latest = health.circuits.find((c) => c.name === 'upstream:users')?.state ?? 'missing';
          breakerStates.add(latest);
        })
        .catch(() => undefined);
    }, 100);
    // Shortly after the load starts: the breaker judges the last 10 s, and users is back within
    // about a second, so a long run of earlier successes would outweigh the failures.
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(usersPid, 'SIGKILL');
    try {
      await eventually(async () => {
        const users = (await status()).targets.find((t) => t.name === 'users')!;
        return users.state === 'healthy' && users.restarts === 1 ? true : undefined;
      }, 30_000, 'users to be restarted');
      // The breaker closes after its reset timeout, on the first successful trial call.
      await eventually(async () => (breakerStates.has('open') && latest === 'closed' ? true : undefined), 30_000, `the breaker to open and close (seen: ${[...breakerStates].join(', ')})`);
    } finally {
      clearInterval(watch);
    }
    const outcomes = await load.stop();
    const tally: Record<string, number> = {};
    for (const outcome of outcomes) tally[String(outcome.status)] = (tally[String(outcome.status)] ?? 0) + 1;
    process.stderr.write(`[crash] ${outcomes.length} requests: ${JSON.stringify(tally)}; breaker states seen: ${[...breakerStates].join(' → ')}\n`);
    expect(outcomes.filter((o) => o.status === 'hung' || o.status === 'error')).toEqual([]);
    expect(outcomes.every((o) => o.status === 200 || ((o.status === 502 || o.status === 503) && o.json))).toBe(true);
    expect(tally['200']).toBeGreaterThan(0);
    expect((tally['502'] ?? 0) + (tally['503'] ?? 0)).toBeGreaterThan(0);
    expect(breakerStates.has('open')).toBe(true);
    expect((await call('GET', '/api/users/me')).status).toBe(200);
  });

  it('msctl restart analytics while events flow: no failed request, every event counted exactly once', async () => {
    const type = `restart.t${uniqueSuffix()}`;
    const load = loadLoop((n) => call('POST', '/api/events', { type, data: { n } }), 25);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const restarted = await run(['restart', 'analytics']);
    expect(restarted.exitCode, String(restarted.stderr)).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const outcomes = await load.stop();
    const accepted = outcomes.filter((o) => o.status === 202).length;
    expect(outcomes.filter((o) => o.status !== 202)).toEqual([]);
    const counted = await eventually(async () => {
      const summary = (await (await call('GET', '/api/analytics/summary')).json()) as { byType: Record<string, number> };
      return (summary.byType[type] ?? 0) >= accepted ? summary.byType[type] : undefined;
    }, 60_000, 'analytics to catch up');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const settled = ((await (await call('GET', '/api/analytics/summary')).json()) as { byType: Record<string, number> }).byType[type];
    process.stderr.write(`[restart] ${outcomes.length} events sent, ${accepted} accepted, ${settled} counted\n`);
    expect(counted).toBe(accepted);
    expect(settled).toBe(accepted);
    expect((await status()).targets.find((t) => t.name === 'analytics')?.state).toBe('healthy');
  });

  it('msctl chaos pause freezes a service for the duration; chaos stop is undone by Ctrl-C', async () => {
    const pid = (await status()).targets.find((t) => t.name === 'data-processing')!.pid!;
    const processState = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[0];
    const paused = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'chaos', 'pause', 'data-processing', '--for', '3s', '--json', '--project-dir', stack.project().dir], {
      env: { ...stack.project().env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
    });
    await eventually(async () => (processState() === 'T' ? true : undefined), 10_000, 'data-processing to be stopped (SIGSTOP)');
    const result = await paused;
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(processState()).not.toBe('T');
    const report = JSON.parse(String(result.stdout).split('\n').find((line) => line.includes('"restoredAt"'))!) as { action: string; restoredAt: string | null };
    expect(report).toMatchObject({ action: 'pause' });
    expect(report.restoredAt).not.toBeNull();

    const stopped = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'chaos', 'stop', 'notifications', '--for', '60s', '--project-dir', stack.project().dir], {
      env: { ...stack.project().env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
    });
    await eventually(async () => ((await status()).targets.find((t) => t.name === 'notifications')?.state === 'stopped' ? true : undefined), 20_000, 'notifications to stop');
    stopped.kill('SIGINT');
    const interrupted = await stopped;
    expect(interrupted.exitCode).toBe(130);
    expect((await status()).targets.find((t) => t.name === 'notifications')?.state).toBe('healthy');
  });
});
