/**
 * The per-stack rate-limit setting load-test raises: `.msctl/settings.json`, overridden by
 * MSCTL_RATE_LIMIT_PER_SECOND, passed to the gateway (and only the gateway) as
 * RATE_LIMIT_PER_SECOND, read afresh so a restart picks up a change.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStackSettings, writeStackSettings, type Project } from '../../src/stack/project';
import { serviceEnvironment } from '../../src/stack/service-env';
import type { ServiceManifest } from '../../src/stack/manifest';

describe('per-stack settings', () => {
  it('file, then environment; merged writes; bad values are usage errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msctl-settings-'));
    expect(readStackSettings(dir, {})).toEqual({});
    writeStackSettings(dir, { rateLimitPerSecond: 5000 });
    expect(readStackSettings(dir, {})).toEqual({ rateLimitPerSecond: 5000 });
    expect(readStackSettings(dir, { MSCTL_RATE_LIMIT_PER_SECOND: '42' })).toEqual({ rateLimitPerSecond: 42 });
    expect(() => readStackSettings(dir, { MSCTL_RATE_LIMIT_PER_SECOND: 'fast' })).toThrow(/not a positive whole number/);
    await writeFile(join(dir, 'settings.json'), '{ nope');
    expect(() => readStackSettings(dir, {})).toThrow(/not valid JSON/);
  });

  it('the gateway gets RATE_LIMIT_PER_SECOND from the setting as it is at start; other services do not', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'msctl-settings-'));
    const manifest = (name: string, gateway: boolean) => ({ name, port: 1, needs: [], gateway, routes: [] }) as unknown as ServiceManifest;
    const project = { stateDir, manifests: [manifest('gateway', true), manifest('users', false)] } as unknown as Project;
    const endpoints = { kafkaBootstrap: '', postgresUrl: '', serviceUrls: () => ['http://127.0.0.1:1'] };
    const secrets = { jwtSecret: 'x', postgresPassword: 'y' } as never;
    expect(serviceEnvironment(project, project.manifests[0]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBeUndefined();
    writeStackSettings(stateDir, { rateLimitPerSecond: 777 });
    expect(serviceEnvironment(project, project.manifests[0]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBe('777');
    expect(serviceEnvironment(project, project.manifests[1]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBeUndefined();
  });
});
