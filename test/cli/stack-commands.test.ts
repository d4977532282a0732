/**
 * The commands of this work against a real running stack (local runtime): doctor counts the
 * stack's own ports as the stack's, `ps -q` prints what runs, `logs --trace` follows one request
 * across services, and completion offers the stack's topics and consumer groups.
 */
import { describe, expect, it } from 'vitest';
import { msctl } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';
import { TEST_PASSWORD } from '../support/gateway-client';
import { sleep } from '../../src/core/sleep';

const stack = stackForThisFile();

describe('on a running stack', () => {
  it('doctor: the broker, controller, PostgreSQL and service ports are the stack’s, and it exits 0', async () => {
    const result = await stack.run(['doctor', '--json']);
    const report = JSON.parse(String(result.stdout)) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string }> };
    const env = stack.project().env;
    for (const port of [env.MSCTL_KAFKA_PORT, env.MSCTL_KAFKA_CONTROLLER_PORT, env.MSCTL_POSTGRES_PORT, String(stack.project().ports.users)]) {
      expect(report.checks.find((check) => check.name === `port ${port}`)).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^ok, held by this stack/) });
    }
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
    expect(result.exitCode).toBe(0);
  });

  it('ps -q: the pid of everything that runs, one per line', async () => {
    const result = await stack.run(['ps', '-q']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const status = await stack.status();
    const running = status.targets.filter((target) => target.state !== 'stopped').map((target) => String(target.pid));
    expect(String(result.stdout).split('\n')).toEqual(running);
    expect(running.length).toBeGreaterThanOrEqual(7);
  });

  it('logs --trace: the lines of one request, from the gateway and the service behind it', async () => {
    const signUp = await stack.post('/api/users', { username: 'tracy', email: 'tracy@example.test', password: TEST_PASSWORD });
    expect(signUp.status).toBe(201);
    const traceId = signUp.headers.get('x-trace-id');
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    // The services write their logs asynchronously: ask until both have written theirs.
    let targets = new Set<string>();
    let lines: Array<{ target: string; record?: { trace_id?: string } }> = [];
    for (let attempt = 0; attempt < 40 && !(targets.has('gateway') && targets.has('users')); attempt++) {
      if (attempt > 0) await sleep(250);
      const result = await stack.run(['logs', '--trace', traceId!, '--json']);
      expect(result.exitCode, String(result.stderr)).toBe(0);
      lines = String(result.stdout).split('\n').filter(Boolean).map((line) => JSON.parse(line) as (typeof lines)[number]);
      targets = new Set(lines.map((line) => line.target));
    }
    expect([...targets].sort()).toEqual(expect.arrayContaining(['gateway', 'users']));
    expect(lines.every((line) => line.record?.trace_id === traceId)).toBe(true);
  });

  it('completion: the stack’s topics and consumer groups', async () => {
    const complete = async (...words: string[]) => {
      // Not stack.run: it appends --project-dir, which would be taken for the words typed.
      const result = await msctl(['__complete', '--', '--project-dir', stack.project().dir, ...words], { env: stack.project().env });
      expect(result).toMatchObject({ exitCode: 0, stderr: '' });
      return String(result.stdout).split('\n').filter(Boolean);
    };
    const topics = await complete('topics', 'tail', '');
    expect(topics).toEqual(expect.arrayContaining(['users.events']));
    expect(topics.some((topic) => topic.startsWith('__'))).toBe(false);
    expect(await complete('topics', 'groups', 'reset-offsets', '')).toEqual(expect.arrayContaining(['analytics']));
    expect(await complete('logs', 'gate')).toEqual(['gateway']);
  });
});
