/**
 * The wiring of the local runtime: `msctl up -d` runs the trace receiver in the supervisor and
 * gives every service OTEL_EXPORTER_OTLP_ENDPOINT, so a sign-up through the gateway becomes a
 * trace that `msctl traces` lists — with no setting at all. A program of another language (the
 * official OpenTelemetry Python SDK, which exports protobuf) is pointed at the same receiver with
 * the endpoint and token the stack records, and its spans show in `msctl traces` too. (Costs one
 * throwaway stack.)
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { msctl, repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';
import { exportFromPython } from './python/exporter';

let throwaway: ThrowawayProject;

beforeAll(async () => {
  throwaway = await createThrowawayProject(repoRoot);
  // The developer's own collector setting must not leak into the stack under test.
  const up = await msctl(['up', '-d', '--project-dir', throwaway.dir], { env: { ...throwaway.env, OTEL_EXPORTER_OTLP_ENDPOINT: '' } });
  expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
});
afterAll(async () => {
  if (throwaway) {
    await msctl(['down', '-v', '--project-dir', throwaway.dir], { env: throwaway.env });
    await throwaway.remove();
  }
});

describe('msctl up -d records traces', () => {
  it('a sign-up through the gateway is listed by `msctl traces` with every service it touched', async () => {
    const username = `local_${uniqueSuffix()}`;
    const response = await fetch(`http://127.0.0.1:${throwaway.ports.gateway}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, email: `${username}@example.test`, password: 'correct horse battery staple' }),
    });
    expect(response.status).toBe(201);
    const traceId = response.headers.get('x-trace-id')!;
    const trace = await eventually(
      async () => {
        const result = await msctl(['traces', traceId, '--json', '--project-dir', throwaway.dir], { env: throwaway.env });
        if (result.exitCode !== 0) return undefined;
        const body = JSON.parse(String(result.stdout)) as { summary: { services: string[] } };
        return body.summary.services.length >= 4 ? body : undefined;
      },
      30_000,
      'the sign-up trace from the running stack',
    );
    expect(trace.summary.services.sort()).toEqual(['analytics', 'gateway', 'notifications', 'users']);
    const list = await msctl(['traces', '--service', 'users', '--project-dir', throwaway.dir], { env: throwaway.env });
    expect(list.exitCode, String(list.stderr)).toBe(0);
    expect(String(list.stdout)).toContain(traceId);
  });
});

describe('spans from another language’s OpenTelemetry SDK', () => {
  it('a Python program’s protobuf export, plain and gzip, shows in `msctl traces --json`; without the token it is refused', async () => {
    // What docs/tracing.md tells a user to read: the receiver's address and the stack's token.
    const stateDir = join(throwaway.dir, '.msctl');
    const endpoint = (JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8')) as { supervisor: { otlpEndpoint: string } }).supervisor.otlpEndpoint;
    const token = (JSON.parse(await readFile(join(stateDir, 'secrets.json'), 'utf8')) as { otlpToken: string }).otlpToken;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${token}`, OTEL_SERVICE_NAME: 'python-shop' };

    for (const compression of ['none', 'gzip']) {
      const exported = await exportFromPython({ ...env, OTEL_EXPORTER_OTLP_COMPRESSION: compression });
      expect(exported.exitCode, exported.stderr).toBe(0);
      expect(exported.results).toEqual(['SUCCESS', 'SUCCESS']);
      const shown = await msctl(['traces', exported.traceId!, '--json', '--project-dir', throwaway.dir], { env: throwaway.env });
      expect(shown.exitCode, String(shown.stderr)).toBe(0);
      const trace = JSON.parse(String(shown.stdout)) as { summary: { services: string[] }; spans: Array<{ name: string; service: string; kind: string; status: string; parentSpanId?: string; attributes: Record<string, unknown> }> };
      expect(trace.summary.services).toEqual(['python-shop']);
      const root = trace.spans.find((span) => span.name === 'python checkout');
      const child = trace.spans.find((span) => span.name === 'python charge card');
      expect(root).toMatchObject({ kind: 'server', attributes: { 'order.items': 3, 'order.total': 41.5, 'order.express': true } });
      expect(child).toMatchObject({ kind: 'client', status: 'error' });
    }
    const listed = await msctl(['traces', '--service', 'python-shop', '--json', '--project-dir', throwaway.dir], { env: throwaway.env });
    expect((JSON.parse(String(listed.stdout)) as { traces: unknown[] }).traces).toHaveLength(2);

    const refused = await exportFromPython({ ...env, OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20not-the-token' });
    expect(refused.exitCode).toBe(1);
    expect(refused.results).toEqual(['FAILURE', 'FAILURE']);
  });
});
