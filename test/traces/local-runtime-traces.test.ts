/**
 * The wiring of the local runtime: `msctl up -d` runs the trace receiver in the supervisor and
 * gives every service OTEL_EXPORTER_OTLP_ENDPOINT, so a sign-up through the gateway becomes a
 * trace that `msctl traces` lists — with no setting at all. (Costs one throwaway stack.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { msctl, repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

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
