/**
 * One sign-up through the gateway is one trace across HTTP and Kafka: the five services run
 * in-process against the run's real Kafka and PostgreSQL, exporting over OTLP/HTTP to msctl's
 * receiver (OTEL_EXPORTER_OTLP_ENDPOINT), which stores the spans in a throwaway project's
 * .msctl/traces. The built `msctl traces` reads them (--json, and the waterfall in tmux).
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { startTraceReceiver, type TraceReceiver } from '../../src/traces/receiver';
import type { StoredSpan } from '../../src/traces/otlp';
import { findTrace, readSpans } from '../../src/traces/store';
import { startTestStack, type TestStack } from '../e2e/stack';
import { msctl, repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let project: ThrowawayProject;
let receiver: TraceReceiver;
let stack: TestStack;
let tracesDir: string;
const otlpBodies: unknown[] = [];

beforeAll(async () => {
  project = await createThrowawayProject(repoRoot);
  tracesDir = join(project.dir, '.msctl', 'traces');
  const token = randomBytes(32).toString('base64url');
  receiver = await startTraceReceiver({ dir: tracesDir, token, onSpans: (spans) => otlpBodies.push(spans) });
  stack = await startTestStack({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${token}`, OTEL_BSP_SCHEDULE_DELAY: '100' });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
  await project?.remove();
});

let traceId: string;
let spans: StoredSpan[];

async function signUp(): Promise<string> {
  const username = `trace_${uniqueSuffix()}`;
  const response = await fetch(`${stack.gateway.url}/api/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, email: `${username}@example.test`, password: 'correct horse battery staple' }),
  });
  expect(response.status).toBe(201);
  const id = response.headers.get('x-trace-id');
  expect(id).toMatch(/^[\da-f]{32}$/);
  return id!;
}

const byService = (service: string, kind?: StoredSpan['kind']) => spans.filter((s) => s.service === service && (!kind || s.kind === kind));
const parentOf = (span: StoredSpan) => spans.find((s) => s.spanId === span.parentSpanId);

describe('one sign-up, one trace', () => {
  it('holds spans from gateway, users, the outbox relay, notifications and analytics, parent links intact across Kafka', async () => {
    traceId = await signUp();
    spans = await eventually(
      async () => {
        const { trace } = findTrace(await readSpans(tracesDir), traceId);
        const list = trace?.spans ?? [];
        const consumers = list.filter((s) => s.kind === 'consumer' && s.attributes['messaging.destination.name']?.toString().endsWith('users.events'));
        return new Set(consumers.map((s) => s.service)).size >= 2 && consumers.every((s) => list.some((p) => p.spanId === s.parentSpanId)) ? list : undefined;
      },
      45_000,
      'the whole trace in the store',
    );
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['gateway', 'users', 'notifications', 'analytics']));

    // HTTP: gateway server → gateway client → users server → PostgreSQL transaction.
    const [gatewayServer] = byService('gateway', 'server');
    expect(gatewayServer).toMatchObject({ name: 'POST /api/users' });
    expect(gatewayServer!.parentSpanId).toBeUndefined();
    const [gatewayClient] = byService('gateway', 'client');
    expect(parentOf(gatewayClient!)).toBe(gatewayServer);
    const [usersServer] = byService('users', 'server');
    expect(usersServer).toMatchObject({ name: 'POST /users', attributes: { 'http.response.status_code': 201 } });
    expect(parentOf(usersServer!)).toBe(gatewayClient);
    const transaction = byService('users', 'client').find((s) => s.name === 'transaction');
    expect(transaction && parentOf(transaction)).toBe(usersServer);
    expect(byService('users', 'client').some((s) => s.name === 'INSERT outbox' && parentOf(s) === transaction)).toBe(true);

    // Outbox: the relay's publish (later, in the background) continues the request's trace.
    const [publish] = byService('users', 'producer');
    expect(publish).toMatchObject({ name: expect.stringMatching(/^outbox publish .*users\.events$/) });
    expect(parentOf(publish!)?.service).toBe('users');

    // Kafka: both consumers' spans are children of the publish span, and their work nests under them.
    for (const service of ['notifications', 'analytics']) {
      const consume = byService(service, 'consumer').find((s) => String(s.attributes['messaging.destination.name']).endsWith('users.events'));
      expect(consume, service).toBeDefined();
      expect(parentOf(consume!), service).toBe(publish);
      expect(consume!.start).toBeGreaterThanOrEqual(gatewayServer!.start);
      expect(byService(service, 'client').some((s) => parentOf(s) === consume), `${service} PostgreSQL under its consume span`).toBe(true);
    }
    expect(spans.filter((s) => s.status === 'error')).toEqual([]);
  });

  it('arrived over OTLP/HTTP JSON at the endpoint OTEL_EXPORTER_OTLP_ENDPOINT names', () => {
    const received = (otlpBodies as StoredSpan[][]).flat().filter((s) => s.traceId === traceId);
    expect(new Set(received.map((s) => s.spanId))).toEqual(new Set(spans.map((s) => s.spanId)));
  });

  it('`msctl traces <id> --json` returns them, and the list shows the trace', async () => {
    const one = await msctl(['traces', traceId, '--json', '--project-dir', project.dir]);
    expect(one.exitCode, String(one.stderr)).toBe(0);
    const body = JSON.parse(String(one.stdout)) as { traceId: string; summary: { services: string[]; spanCount: number }; spans: Array<StoredSpan & { depth: number; queueMs?: number }> };
    expect(body.traceId).toBe(traceId);
    expect(new Set(body.spans.map((s) => s.spanId))).toEqual(new Set(spans.map((s) => s.spanId)));
    expect(body.summary.services.sort()).toEqual(['analytics', 'gateway', 'notifications', 'users']);
    expect(body.spans[0]).toMatchObject({ service: 'gateway', depth: 0 });
    expect(body.spans.filter((s) => s.kind === 'consumer' && s.queueMs !== undefined).length).toBeGreaterThanOrEqual(2);

    const list = await msctl(['traces', '--json', '--service', 'notifications', '--since', '5m', '--project-dir', project.dir]);
    expect(list.exitCode, String(list.stderr)).toBe(0);
    const listed = (JSON.parse(String(list.stdout)) as { traces: Array<{ traceId: string; rootService: string; spanCount: number }> }).traces;
    expect(listed.find((t) => t.traceId === traceId)).toMatchObject({ rootService: 'gateway', spanCount: spans.length });

    const missing = await msctl(['traces', 'ffffffffffffffffffffffffffffffff', '--project-dir', project.dir]);
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toMatch(/no trace ffff/);
  });

  it('draws the waterfall in a real terminal with every service named and the Kafka hop queued', async () => {
    const session = `msctl-traces-${uniqueSuffix()}`;
    const command = `${process.execPath} ${join(repoRoot, 'bin', 'msctl.js')} traces ${traceId} --project-dir ${project.dir}; sleep 30`;
    await execa('tmux', ['new-session', '-d', '-s', session, '-x', '160', '-y', '50', command]);
    try {
      const screen = await eventually(
        async () => {
          const { stdout } = await execa('tmux', ['capture-pane', '-p', '-t', session]);
          return stdout.includes('Kafka hops') ? stdout : undefined;
        },
        20_000,
        'the waterfall on screen',
      );
      for (const service of ['gateway', 'users', 'notifications', 'analytics']) expect(screen).toMatch(new RegExp(`^${service}\\s`, 'm'));
      expect(screen).toContain(`trace ${traceId}`);
      expect(screen).toMatch(/POST \/api\/users/);
      expect(screen).toMatch(/outbox publish/);
      expect(screen).toMatch(/process \S*users\.events\s.*queued \d/);
      expect(screen).toContain('█');
    } finally {
      await execa('tmux', ['kill-session', '-t', session], { reject: false });
    }
  });
});
