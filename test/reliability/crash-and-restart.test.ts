/**
 * Suite 3 (crash) and suite 4 (SIGTERM under load) on a real local stack:
 * - `msctl chaos kill users` (SIGKILL) under load: the supervisor restarts it, the gateway's breaker for it
 *   opens and closes again, and every request ends with an answer — 2xx, or a clean 502/503
 *   JSON error — none hangs;
 * - `msctl restart` of data-processing and then users, each on the request path, under load:
 *   every request is answered 2xx or a clean 503 with Retry-After (never a 502, a reset or a
 *   hang), each old process exited with code 0, the consumer groups drain their lag, and
 *   analytics counts every event exactly once.
 */
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { repoRoot } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';
import { sleep } from '../../src/core/sleep';

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
  retryAfter: string | null;
  /** The start of the body, to say what went wrong. */
  text: string;
}

/** Fires a request every `everyMs` until stopped; records how each one ended, in order sent. */
function loadLoop(send: (n: number) => Promise<Response>, everyMs: number) {
  const outcomes: Array<Promise<Outcome>> = [];
  const ended: Outcome[] = [];
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
            return { status: response.status, json, retryAfter: response.headers.get('retry-after'), text: text.slice(0, 200) };
          },
          (error: unknown): Outcome => ({ status: (error as Error).name === 'TimeoutError' ? 'hung' : 'error', json: false, retryAfter: null, text: String(error) }),
        ),
      );
      const index = outcomes.length - 1;
      void outcomes[index]!.then((outcome) => {
        ended[index] = outcome;
      });
      await sleep(everyMs);
    }
  })();
  return {
    /** The outcomes so far, by the index each request was sent at (a hole while one is pending). */
    settled: (): Outcome[] => [...ended],
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
  it('msctl chaos kill users (SIGKILL) under load: restarted, the gateway breaker opens and closes, no request hangs', async () => {
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
    // As soon as the load is served: the breaker judges the last 10 s, and users is back within
    // about a second, so a long run of earlier successes would outweigh the failures.
    await eventually(async () => (load.settled().some((o) => o?.status === 200) ? true : undefined), 20_000, 'the load to be served');
    const killed = await run(['chaos', 'kill', 'users', '--json']);
    expect(killed.exitCode, String(killed.stderr)).toBe(0);
    try {
      const users = await eventually(async () => {
        const users = (await status()).targets.find((t) => t.name === 'users')!;
        return users.state === 'healthy' && users.restarts === 1 ? users : undefined;
      }, 30_000, 'users to be restarted');
      // The runtime saw the process it had die of the signal, and started a new one.
      expect(users.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
      expect(users.pid).not.toBe(usersPid);
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
    expect((await call('GET', '/api/users/me')).status).toBe(200);
  });

  it('msctl restart of data-processing, then users, under load: every answer is 2xx (the new instance is routed to before the old one stops), the lag drains, each old process exited cleanly', async () => {
    const type = `restart.t${uniqueSuffix()}`;
    const events: Array<{ id: string; type: string; data: { n: number } }> = [];
    const ingest = loadLoop((n) => {
      const event = { id: randomUUID(), type, data: { n } };
      events.push(event);
      return call('POST', '/api/events', event);
    }, 25);
    const reads = loadLoop(() => call('GET', '/api/users/me'), 25);
    const servedSince = (load: ReturnType<typeof loadLoop>, from: number) => load.settled().slice(from).filter((o) => o !== undefined && (o.status === 200 || o.status === 202)).length;
    await eventually(async () => (servedSince(ingest, 0) > 0 && servedSince(reads, 0) > 0 ? true : undefined), 20_000, 'the load to be served');

    for (const name of ['data-processing', 'users']) {
      const before = (await status()).targets.find((t) => t.name === name)!;
      const restarted = await run(['restart', name]);
      expect(restarted.exitCode, String(restarted.stderr)).toBe(0);
      const after = (await status()).targets.find((t) => t.name === name)!;
      expect(after, JSON.stringify(after)).toMatchObject({ state: 'healthy', restarts: before.restarts + 1, lastExit: { code: 0, signal: null } });
      expect(after.pid).not.toBe(before.pid);
    }
    // The new processes serve: requests sent after the last restart are answered 2xx.
    const [ingestMark, readsMark] = [ingest.settled().length, reads.settled().length];
    await eventually(async () => (servedSince(ingest, ingestMark) >= 5 && servedSince(reads, readsMark) >= 5 ? true : undefined), 30_000, 'the restarted services to serve');
    const outcomes = [...(await ingest.stop()), ...(await reads.stop())];
    const tally: Record<string, number> = {};
    for (const outcome of outcomes) tally[String(outcome.status)] = (tally[String(outcome.status)] ?? 0) + 1;
    process.stderr.write(`[restart] ${outcomes.length} requests: ${JSON.stringify(tally)}\n`);
    const unclean = outcomes.filter((o) => !(o.status === 200 || o.status === 202));
    if (unclean.length > 0) {
      const logs = await run(['logs', 'gateway', '--tail', '5000', '--raw']);
      process.stderr.write(`--- gateway, upstream calls that failed once connected:\n${String(logs.stdout).split('\n').filter((line) => line.includes('upstream call failed') && !line.includes('ECONNREFUSED')).slice(0, 5).join('\n')}\n`);
    }
    expect(unclean).toEqual([]);

    // Lag drained, upstream first: once data-processing has committed everything it read, every
    // event is in events.processed; once analytics has, every one of them is applied.
    for (const group of ['data-processing', 'analytics']) await stack.drained(group);
    const summary = (await (await call('GET', '/api/analytics/summary')).json()) as { byType: Record<string, number> };
    expect(summary.byType[type]).toBe(events.length);
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
