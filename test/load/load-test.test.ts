/**
 * `msctl load-test` for real, through the built binary, against a throwaway stack (`up -d`):
 * short runs (2–3 s, few connections). The JSON result has every field; after ingest the
 * events it reports accepted are what analytics, read by the test itself, counted for the run;
 * an impossible SLO exits 3; the HTML report renders in headless Chromium without console
 * errors (a screenshot is saved); a custom scenario runs in autocannon worker threads; the rate
 * limit is raised only when asked.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueSuffix } from '@msctl/kit/testing';
import { EXIT_CODES } from '../../src/core/errors';
import type { LoadResult } from '../../src/load/types';
import { msctl, repoRoot } from '../support/cli';
import { gatewayClient } from '../support/gateway-client';
import { drained } from '../support/lag';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let throwaway: ThrowawayProject;
let project: string;
let env: Record<string, string>;
let work: string;

const loadTest = (args: string[]) => msctl(['load-test', ...args, '--project-dir', project], { env });

const parse = (stdout: unknown): LoadResult => JSON.parse(String(stdout).trim().split('\n')[0]!) as LoadResult;

const gateway = () => `http://127.0.0.1:${throwaway.ports.gateway}`;

/** Every consumer group of the stack has committed all its topics hold. */
const consumersCaughtUp = () => drained((args) => msctl(['topics', ...args, '--project-dir', project], { env }), undefined, 90_000);

async function analyticsSummary(token: string): Promise<{ byType: Record<string, number> }> {
  const response = await fetch(`${gateway()}/api/analytics/summary`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(15_000) });
  expect(response.status).toBe(200);
  return (await response.json()) as { byType: Record<string, number> };
}

beforeAll(async () => {
  throwaway = await createThrowawayProject(repoRoot);
  ({ dir: project, env } = throwaway);
  work = await mkdtemp(join(tmpdir(), 'msctl-load-test-'));
  await writeFile(join(work, 'lenient.yaml'), 'all: { p99Ms: 60000 }\n');
  await writeFile(join(work, 'impossible.yaml'), 'all: { p99Ms: 0.001 }\n');
  const up = await msctl(['up', '-d', '--project-dir', project], { env });
  expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
});

afterAll(async () => {
  if (project) {
    await msctl(['down', '-v', '--project-dir', project], { env });
    await throwaway.remove();
  }
});

describe('msctl load-test against a running stack', () => {
  it('ingest --json: every field, and the events accepted are the events analytics counted', async () => {
    const reader = await gatewayClient(gateway).login(`lt_reader_${uniqueSuffix()}`);
    await consumersCaughtUp();
    const before = await analyticsSummary(reader.token);
    // No warm-up: analytics counts its events too, the result's totals do not.
    const result = await loadTest(['ingest', '--duration', '2', '--warmup', '0', '--connections', '4', '--users', '3', '--slo', join(work, 'lenient.yaml'), '--json']);
    expect(result.exitCode, String(result.stderr)).toBe(EXIT_CODES.ok);
    const r = parse(result.stdout);
    for (const key of ['scenario', 'runId', 'target', 'model', 'modelDescription', 'generator', 'startedAt', 'durationSeconds', 'warmupSeconds', 'connections', 'workers', 'rate', 'users', 'rateLimit', 'totals', 'latency', 'groups', 'timeline', 'histogram', 'server', 'slo', 'ingestCheck', 'machine']) {
      expect(r, key).toHaveProperty(key);
    }
    expect(r.model).toBe('closed');
    expect(r.rateLimit).toMatchObject({ perSecondPerClient: 100, clients: 3, raised: false });
    expect(r.totals.requests).toBeGreaterThan(0);
    expect(r.totals.eventsAccepted).toBeGreaterThan(0);
    for (const key of ['p50', 'p90', 'p99', 'p999', 'max']) expect(r.latency[key as keyof typeof r.latency], key).toBeGreaterThan(0);
    expect(r.latency.p50).toBeLessThanOrEqual(r.latency.p99);
    expect(r.latency.p99).toBeLessThanOrEqual(r.latency.max);
    expect(Object.keys(r.groups)).toEqual(['ingest']);
    expect(r.groups.ingest!.statusCodes['202']).toBeGreaterThan(0);
    expect(r.timeline.length).toBeGreaterThanOrEqual(2);
    // The server side saw the load: data-processing served requests, the gateway forwarded them.
    expect(r.server.services['data-processing']!.requests).toBeGreaterThan(0);
    expect(r.server.services.gateway!.requests).toBeGreaterThanOrEqual(r.server.services['data-processing']!.requests);
    expect(Object.keys(r.server.breakers.states)).toContain('gateway/upstream:data-processing');
    expect(r.slo).toMatchObject({ ok: true, violations: [] });

    await consumersCaughtUp();
    const after = await analyticsSummary(reader.token);
    const runTypes = Object.keys(after.byType).filter((type) => type.startsWith(`loadtest.${r.runId}.`));
    const countedForRun = runTypes.reduce((sum, type) => sum + after.byType[type]!, 0);
    expect(countedForRun, `analytics' count of ${runTypes.join(', ')}`).toBe(r.totals.eventsAccepted);
    // All analytics counted meanwhile is the run: its events, and its users signing up.
    const changed = Object.fromEntries(
      Object.entries(after.byType)
        .map(([type, count]) => [type, count - (before.byType[type] ?? 0)] as const)
        .filter(([, delta]) => delta !== 0),
    );
    expect(changed).toEqual({ ...Object.fromEntries(runTypes.map((type) => [type, after.byType[type]])), 'user.created': r.users });
    expect(r.ingestCheck).toMatchObject({ ran: true, ok: true, counted: countedForRun, types: expect.arrayContaining(runTypes) });
  });

  it('an impossible SLO (p99 ≤ 0.001 ms) exits 3 and says which objective failed', async () => {
    const result = await loadTest(['read', '--duration', '2', '--connections', '2', '--users', '2', '--slo', join(work, 'impossible.yaml')]);
    expect(result.exitCode, String(result.stderr)).toBe(EXIT_CODES.sloViolated);
    expect(String(result.stdout)).toMatch(/SLO \(.*impossible\.yaml\) violated:\n\s+✘ all p99 [\d.]+ ms \(objective ≤ 0\.001 ms\)/);
    expect(String(result.stdout)).toMatch(/analytics\s+\d+/);
    expect(String(result.stdout)).toMatch(/notifications\s+\d+/);
  });

  it('the open model (--rate) writes an HTML report that headless Chromium renders without errors', async () => {
    const report = join(work, 'report.html');
    const result = await loadTest(['mixed', '--rate', '60', '--duration', '2', '--connections', '4', '--users', '3', '--slo', join(work, 'lenient.yaml'), '--report', report, '--json']);
    expect(result.exitCode, String(result.stderr)).toBe(EXIT_CODES.ok);
    const r = parse(result.stdout);
    expect(r.model).toBe('open');
    expect(r.modelDescription).toMatch(/coordinated omission corrected/);
    expect(r.rate).toBe(60);
    expect(r.totals.requests).toBeGreaterThan(100);
    expect(Object.keys(r.groups).sort()).toEqual(['analytics', 'ingest', 'notifications', 'users']);
    expect(r.ingestCheck.ok).toBe(true);

    const html = await readFile(report, 'utf8');
    expect(html).not.toMatch(/<script|<link|src=|href=/i);
    expect(html).toContain('Latency over time');

    const chromium = '/usr/bin/chromium';
    expect(existsSync(chromium), 'Debian chromium is needed: apt-get install -y chromium (scripts/setup.sh installs it)').toBe(true);
    const screenshot = join(tmpdir(), 'msctl-load-test-report.png');
    const browser = await execa(
      chromium,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${await mkdtemp(join(tmpdir(), 'msctl-chromium-'))}`,
        '--enable-logging=stderr',
        '--v=0',
        `--screenshot=${screenshot}`,
        '--window-size=1280,900',
        `file://${report}`,
      ],
      { reject: false, timeout: 60_000 },
    );
    expect(browser.exitCode, String(browser.stderr)).toBe(0);
    const consoleErrors = String(browser.stderr)
      .split('\n')
      .filter((line) => /Uncaught|:CONSOLE[:(]|Refused to|net::ERR_/.test(line));
    expect(consoleErrors).toEqual([]);
    expect((await stat(screenshot)).size).toBeGreaterThan(10_000);
    console.log(`load-test report screenshot: ${screenshot}`);
  });

  it('a custom YAML scenario runs in autocannon worker threads', async () => {
    const scenario = join(work, 'custom.yaml');
    await writeFile(
      scenario,
      `name: custom-events
requests:
  - name: tagged
    method: POST
    path: /api/events
    headers: { x-load: "{{uuid}}" }
    body: { type: "custom.{{run}}", data: { seq: "{{seq}}", id: "{{uuid}}" } }
  - name: me
    path: /api/users/me
    headers: { authorization: "Bearer {{token}}" }
`,
    );
    const result = await loadTest([scenario, '--workers', '2', '--duration', '2', '--connections', '2', '--users', '2', '--slo', join(work, 'lenient.yaml'), '--json']);
    expect(result.exitCode, String(result.stderr)).toBe(EXIT_CODES.ok);
    const r = parse(result.stdout);
    expect(r.scenario).toBe('custom-events');
    expect(r.workers).toBe(2);
    expect(r.generator).toMatch(/2 worker threads/);
    expect(r.groups.tagged!.statusCodes['202']).toBeGreaterThan(0);
    expect(r.groups.me!.statusCodes['200']).toBeGreaterThan(0);
    expect(r.totals.eventsAccepted).toBe(r.groups.tagged!.eventsAccepted);
    expect(r.ingestCheck).toMatchObject({ ran: false });
  });

  it('--rate and --workers together are a usage error', async () => {
    const result = await loadTest(['users', '--rate', '10', '--workers', '2']);
    expect(result.exitCode).toBe(EXIT_CODES.usage);
    expect(String(result.stderr)).toMatch(/--workers applies to the closed model/);
  });

  it('--raise-rate-limit restarts the gateway with the per-stack setting and the result states the new limit', async () => {
    const result = await loadTest(['users', '--raise-rate-limit', '5000', '--duration', '2', '--connections', '2', '--users', '2', '--slo', join(work, 'lenient.yaml'), '--json']);
    expect(result.exitCode, String(result.stderr)).toBe(EXIT_CODES.ok);
    const r = parse(result.stdout);
    expect(r.rateLimit).toMatchObject({ perSecondPerClient: 5000, raised: true });
    expect(JSON.parse(await readFile(join(project, '.msctl', 'settings.json'), 'utf8'))).toEqual({ rateLimitPerSecond: 5000 });
    // Without the flag the next run keeps what the stack is configured with, and says so.
    const next = await loadTest(['read', '--duration', '1', '--connections', '1', '--users', '1', '--slo', join(work, 'lenient.yaml'), '--json']);
    expect(parse(next.stdout).rateLimit).toMatchObject({ perSecondPerClient: 5000, raised: false });
  });
});
