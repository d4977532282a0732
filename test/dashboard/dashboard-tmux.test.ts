/**
 * `msctl dashboard` in a real terminal (tmux) against a real stack (a throwaway project on free
 * ports, local runtime): every service healthy and every circuit CLOSED; PostgreSQL stopped →
 * users' postgres circuit OPEN and users degraded/unhealthy; PostgreSQL started again → CLOSED;
 * `?` lists the keys and `t` draws the selected service's slowest trace; `q` exits 0 and gives the
 * terminal back. Also the off-terminal paths of the built binary:
 * the one-line refusal, `dashboard --json` and `status --watch` as lines.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, execaSync } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot';
import { msctl, repoRoot, statusOf } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

const SERVICES = ['analytics', 'data-processing', 'gateway', 'notifications', 'users'];
const session = `msctl-dashboard-${process.pid}`;
let throwaway: ThrowawayProject;
let project: string;
let env: Record<string, string>;
let gateway: string;
let accessToken: string;

const tmux = (...args: string[]) => execaSync('tmux', args, { reject: false });
/** The screen as the user sees it (with colours when `escapes`). */
const screen = (escapes = false) => String(tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', session).stdout);
const lines = (text: string) => text.split('\n');
const serviceState = (text: string, name: string) => lines(text).find((line) => new RegExp(`^[ ›] ${name}\\s+local\\s`).test(line))?.trim().replace(/^›\s*/, '').split(/\s+/)[2];
/** The breaker rows: [service, breaker, STATE]. */
const breakers = (text: string) => {
  const all = lines(text);
  const start = all.findIndex((line) => line.startsWith('CIRCUIT BREAKERS'));
  const end = all.findIndex((line, i) => i > start && line.startsWith('KAFKA'));
  return all
    .slice(start + 2, end)
    .map((line) => line.trim().split(/\s+/))
    .filter((cells) => ['CLOSED', 'OPEN', 'HALF-OPEN'].includes(cells[2] ?? ''));
};
const breaker = (text: string, service: string, name: string) => breakers(text).find(([s, b]) => s === service && b === name)?.[2];

async function waitForScreen<T>(what: string, probe: (text: string) => T | undefined, timeoutMs = 30_000): Promise<T> {
  try {
    return await eventually(async () => probe(screen()), timeoutMs, what);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n--- screen:\n${screen()}`);
  }
}

const status = () => statusOf(project, env);

beforeAll(async () => {
  throwaway = await createThrowawayProject(repoRoot);
  ({ dir: project, env } = throwaway);
  gateway = `http://127.0.0.1:${throwaway.ports.gateway}`;
  // The outage below must open users' own postgres breaker, from requests sent through the
  // gateway. The gateway's breaker for users could open first (users answers 503 while
  // PostgreSQL is down) and then let one request in 5 s through: fewer than users' breaker needs
  // in its 10 s window (5 calls) ever to open. This stack's gateway keeps its breakers closed.
  mkdirSync(join(project, '.msctl', 'env'), { recursive: true });
  writeFileSync(join(project, '.msctl', 'env', 'gateway.env'), 'BREAKER_VOLUME_THRESHOLD=1000000\n');
  const up = await msctl(['up', '-d', '--runtime', 'local', '--project-dir', project], { env });
  expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
});

afterAll(async () => {
  tmux('kill-session', '-t', session);
  if (project) {
    await msctl(['down', '-v', '--project-dir', project], { env });
    await throwaway.remove();
  }
});

describe('msctl dashboard off a terminal', () => {
  it('without --json: one line saying it needs a terminal and pointing to status --watch; usage exit code', async () => {
    const result = await msctl(['dashboard', '--project-dir', project], { env });
    expect(result.exitCode).toBe(2);
    const stderr = String(result.stderr).trim();
    expect(stderr.split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/needs a terminal/);
    expect(stderr).toMatch(/msctl status --watch/);
  });

  it('--json streams snapshots as JSON lines until Ctrl-C', async () => {
    const child = execa(process.execPath, [`${repoRoot}/bin/msctl.js`, 'dashboard', '--json', '--interval', '0.5', '--project-dir', project], { reject: false, env: { ...env, NO_COLOR: '1' } });
    const snapshots: DashboardSnapshot[] = [];
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop()!;
      for (const part of parts) snapshots.push(JSON.parse(part) as DashboardSnapshot);
    });
    await eventually(async () => (snapshots.length >= 3 ? true : undefined), 30_000, 'three snapshots');
    // The launcher started the same process over with the young generation capped (bin/msctl.js).
    expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')).toContain('--max-semi-space-size=4');
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    const last = snapshots.at(-1)!;
    expect(last.services.filter((s) => s.kind === 'service').map((s) => [s.name, s.state]).sort()).toEqual(SERVICES.map((name) => [name, 'healthy']));
    expect(last.breakers.find((b) => b.service === 'users' && b.name === 'postgres')?.state).toBe('closed');
    expect(snapshots.some((s) => s.kafka.topics.some((t) => t.topic === 'users.events'))).toBe(true);
  });

  it('status --watch prints a timestamped table off a terminal, until Ctrl-C', async () => {
    const child = execa(process.execPath, [`${repoRoot}/bin/msctl.js`, 'status', '--watch', '--interval', '0.5', '--project-dir', project], { reject: false, env: { ...env, NO_COLOR: '1' } });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await eventually(async () => (/gateway\s+healthy/.test(out) ? true : undefined), 30_000, 'a status table');
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(130);
    expect(out).toMatch(/^--- \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n/);
    expect(out).not.toMatch(/\u001b/);
  });
});

describe('msctl dashboard in a real terminal (tmux)', () => {
  it('shows every service healthy and every circuit CLOSED', async () => {
    tmux('kill-session', '-t', session);
    const envFlags = Object.entries({ ...env, TERM: 'xterm-256color' }).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
    const started = tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '50', ...envFlags, 'bash --norc --noprofile');
    expect(started.exitCode, String(started.stderr)).toBe(0);
    // As in a developer's terminal: CI variables (set when the suite runs in CI) would turn colour off.
    tmux('send-keys', '-t', session, `cd ${repoRoot} && env -u CI -u CONTINUOUS_INTEGRATION '${process.execPath}' bin/msctl.js dashboard --project-dir '${project}'; echo "DASHBOARD-EXIT=$?"`, 'Enter');
    const text = await waitForScreen('every service healthy and every circuit CLOSED', (text) => {
      const states = SERVICES.map((name) => serviceState(text, name));
      const rows = breakers(text);
      return states.every((state) => state === 'healthy') && rows.length >= SERVICES.length && rows.every((row) => row[2] === 'CLOSED') ? text : undefined;
    });
    expect(serviceState(text, 'postgres')).toBe('healthy');
    expect(serviceState(text, 'kafka')).toBe('healthy');
    expect(breaker(text, 'users', 'postgres')).toBe('CLOSED');
    expect(text).toMatch(/↑\/↓ select/);
    // Every line fits the 160 columns (capture-pane would show wrapped leftovers as extra lines).
    for (const line of lines(text)) expect([...line].length).toBeLessThanOrEqual(160);
  });

  it('PostgreSQL stopped: users’ postgres circuit OPEN (red), users degraded or unhealthy, the change listed', async () => {
    const post = (path: string, body: unknown) => fetch(`${gateway}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await post('/api/users', { username: 'dash', email: 'dash@example.test', password: 'a long enough password' })).status).toBe(201);
    ({ accessToken } = (await (await post('/api/auth/token', { username: 'dash', password: 'a long enough password' })).json()) as { accessToken: string });

    const postgres = (await status()).targets.find((t) => t.name === 'postgres')!;
    expect(postgres.pid).toBeGreaterThan(0);
    // SIGINT is PostgreSQL's fast shutdown: it ends the open sessions too. (SIGTERM, its "smart"
    // shutdown, waits for every pooled connection to close, so users would never notice.)
    process.kill(postgres.pid!, 'SIGINT');

    const me = () => fetch(`${gateway}/api/users/me`, { headers: { authorization: `Bearer ${accessToken}` } }).then((r) => r.status).catch(() => 0);
    // Also wait for the supervisor to see PostgreSQL gone (it is still shutting down for a moment
    // after the signal): an `up` asked before that finds it running and rightly leaves it alone.
    // Traffic that makes users ask PostgreSQL: a few sign-ups at once (each counts its address
    // in PostgreSQL first), all of it reaching users (this stack's gateway keeps its breakers closed).
    let attempt = 0;
    const signUps = () =>
      Array.from({ length: 5 }, () => {
        attempt += 1;
        const name = `dash_outage_${attempt}`;
        return post('/api/users', { username: name, email: `${name}@example.test`, password: 'a long enough password' }).catch(() => undefined);
      });
    const text = await waitForScreen('postgres failed, users’ postgres circuit OPEN and users degraded/unhealthy', (current) => {
      void me();
      void Promise.all(signUps());
      return serviceState(current, 'postgres') === 'failed' &&
        breaker(current, 'users', 'postgres') === 'OPEN' &&
        ['degraded', 'unhealthy'].includes(serviceState(current, 'users') ?? '')
        ? current
        : undefined;
    });
    expect(text).toMatch(/\d\d:\d\d:\d\d users circuit postgres OPEN/);
    // What the screen shows is what probes see: users' /health fails with 503.
    const usersHealth = await fetch(`http://127.0.0.1:${throwaway.ports.users}/health`);
    expect(usersHealth.status).toBe(503);
    expect(await usersHealth.json()).toMatchObject({ status: 'fail', checks: { 'postgres:connection': [{ status: 'fail' }] } });
    expect(lines(text).find((line) => /^\s+users\s+postgres\s+OPEN/.test(line))).toMatch(/retry in \d+s/);
    const coloured = lines(screen(true)).find((line) => /users\s+(\u001b\[[\d;]*m)*\s*postgres\s/.test(line) && line.includes('OPEN'));
    expect(coloured).toMatch(/\u001b\[[\d;]*(31|91)[\d;]*m(\u001b\[[\d;]*m)*OPEN/);
  });

  it('PostgreSQL started again (msctl up -d postgres): the circuit closes and users is healthy', async () => {
    const up = await msctl(['up', '-d', '--runtime', 'local', 'postgres', '--project-dir', project], { env });
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    await waitForScreen('users’ postgres circuit CLOSED and users healthy', (current) => {
      // A closed-again breaker needs a trial call: health checks and these requests make it.
      void fetch(`${gateway}/api/users/me`, { headers: { authorization: `Bearer ${accessToken}` } }).catch(() => undefined);
      return breaker(current, 'users', 'postgres') === 'CLOSED' && serviceState(current, 'users') === 'healthy' ? current : undefined;
    }, 60_000);
    expect((await fetch(`http://127.0.0.1:${throwaway.ports.users}/health`)).status).toBe(200);
  }, 150_000);

  it('? lists the keys; t draws the gateway’s slowest recent trace as a waterfall; Esc and t close them', async () => {
    tmux('send-keys', '-t', session, '?');
    await waitForScreen('the list of keys', (current) => (/^KEYS/m.test(current) && /^\s+t\s+the selected service’s slowest trace/m.test(current) ? current : undefined));
    tmux('send-keys', '-t', session, 'Escape');
    await waitForScreen('the panels again', (current) => (current.includes('CIRCUIT BREAKERS') ? current : undefined));
    // The sign-ups above went through the gateway: select it and open its trace.
    const rows = lines(screen()).filter((line) => /^[ ›] \S+\s+local\s/.test(line));
    const steps = rows.findIndex((line) => /^[ ›] gateway\s/.test(line)) - rows.findIndex((line) => line.startsWith('›'));
    // Arrows: ink reads several in one read as several keys (letters would arrive as one "jjj").
    if (steps !== 0) tmux('send-keys', '-t', session, ...Array<string>(Math.abs(steps)).fill(steps > 0 ? 'Down' : 'Up'));
    await waitForScreen('the gateway selected', (current) => (lines(current).some((line) => /^› gateway\s/.test(line)) ? current : undefined));
    tmux('send-keys', '-t', session, 't');
    const text = await waitForScreen('the gateway’s slowest trace', (current) => (/^trace [\da-f]{32}\s/m.test(current) && current.includes('TRACE · the slowest of gateway') ? current : undefined));
    // Which of this file's requests was the slowest is the machine's to say (a sign-up and a
    // token both hash a password): the waterfall is the one of the trace it names, from the store.
    const traceId = /^trace ([\da-f]{32})\s/m.exec(text)![1]!;
    const shown = await msctl(['traces', traceId, '--json', '--project-dir', project], { env });
    expect(shown.exitCode, String(shown.stderr)).toBe(0);
    const { summary } = JSON.parse(String(shown.stdout)) as { summary: { rootService: string; rootOperation: string } };
    expect(summary.rootService, text).toBe('gateway');
    expect(summary.rootOperation, text).toMatch(/^(POST|GET) \/api\/(users|auth)/);
    expect(lines(text).some((line) => /^gateway\s/.test(line) && line.replace(/^gateway\s+/, '').startsWith(summary.rootOperation)), text).toBe(true);
    for (const line of lines(text)) expect([...line].length).toBeLessThanOrEqual(160);
    tmux('send-keys', '-t', session, 't');
    await waitForScreen('the panels again', (current) => (current.includes('CIRCUIT BREAKERS') ? current : undefined));
  });

  it('q exits 0 and gives the terminal back', async () => {
    tmux('send-keys', '-t', session, 'q');
    const text = await waitForScreen('the exit code after q', (current) => (/DASHBOARD-EXIT=\d+/.test(current) ? current : undefined));
    expect(text).toMatch(/DASHBOARD-EXIT=0/);
    expect(text).not.toMatch(/CIRCUIT BREAKERS/);
    // The shell is usable: it echoes what we type.
    tmux('send-keys', '-t', session, 'echo "AFTER-$((40+2))"', 'Enter');
    await waitForScreen('the shell to answer', (current) => (current.includes('AFTER-42') ? true : undefined), 10_000);
  });
});
