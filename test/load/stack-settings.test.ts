/**
 * The per-stack rate-limit setting load-test raises: `.msctl/settings.json`, overridden by
 * MSCTL_RATE_LIMIT_PER_SECOND, passed to the gateway (and only the gateway) as
 * RATE_LIMIT_PER_SECOND, and to users as the same rate a minute for its public routes, read
 * afresh so a restart picks up a change.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readStackSettings, writeStackSettings, type Project } from '../../src/stack/project';
import type { StackSecrets } from '../../src/stack/secrets';
import { serviceEnvironment } from '../../src/stack/service-env';
import type { ServiceManifest } from '../../src/stack/manifest';

const secrets = {
  jwtSecret: 'jwt-secret',
  postgresPassword: 'superuser-password',
  internalAuth: { privateKey: 'PRIVATE KEY', publicKey: 'PUBLIC KEY' },
  otlpToken: 'otlp-token',
  roleSeed: 'seed',
} satisfies StackSecrets;

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

  it('the gateway gets RATE_LIMIT_PER_SECOND from the setting as it is at start, users the same rate for its public routes; others nothing', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'msctl-settings-'));
    const manifest = (name: string, gateway: boolean) => ({ name, port: 1, needs: [], gateway, routes: [] }) as unknown as ServiceManifest;
    const project = { stateDir, manifests: [manifest('gateway', true), manifest('users', false), manifest('analytics', false)] } as unknown as Project;
    const endpoints = { kafkaBootstrap: '', postgresUrl: '', serviceUrls: () => ['http://127.0.0.1:1'] };
    expect(serviceEnvironment(project, project.manifests[0]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBeUndefined();
    writeStackSettings(stateDir, { rateLimitPerSecond: 777 });
    expect(serviceEnvironment(project, project.manifests[0]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBe('777');
    expect(serviceEnvironment(project, project.manifests[1]!, endpoints, secrets).RATE_LIMIT_PER_SECOND).toBeUndefined();
    expect(serviceEnvironment(project, project.manifests[1]!, endpoints, secrets).PUBLIC_LIMIT_PER_ADDRESS).toBe(String(777 * 60));
    const analytics = serviceEnvironment(project, project.manifests[2]!, endpoints, secrets);
    expect([analytics.RATE_LIMIT_PER_SECOND, analytics.PUBLIC_LIMIT_PER_ADDRESS]).toEqual([undefined, undefined]);
  });

  it('tracesPerSecond reaches every service as its sampler: a rate, or every trace', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'msctl-settings-'));
    const manifest = { name: 'analytics', port: 1, needs: [], gateway: false, routes: [] } as unknown as ServiceManifest;
    const project = { stateDir, manifests: [manifest] } as unknown as Project;
    const endpoints = { kafkaBootstrap: '', postgresUrl: '', serviceUrls: () => ['http://127.0.0.1:1'] };
    const sampler = () => {
      const env = serviceEnvironment(project, manifest, endpoints, secrets);
      return [env.OTEL_TRACES_SAMPLER, env.OTEL_TRACES_SAMPLER_ARG];
    };
    expect(sampler()).toEqual([undefined, undefined]);
    writeStackSettings(stateDir, { tracesPerSecond: 'all' });
    expect(sampler()).toEqual(['parentbased_always_on', undefined]);
    writeStackSettings(stateDir, { tracesPerSecond: 0 });
    expect(sampler()).toEqual(['parentbased_rate_limited', '0']);
    expect(readStackSettings(stateDir, { MSCTL_TRACES_PER_SECOND: 'all' }).tracesPerSecond).toBe('all');
    expect(() => readStackSettings(stateDir, { MSCTL_TRACES_PER_SECOND: 'many' })).toThrow(/neither a number/);
  });

  it('logLevel reaches every service as LOG_LEVEL (info when unset)', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'msctl-settings-'));
    const manifest = { name: 'users', port: 1, needs: [], gateway: false, routes: [] } as unknown as ServiceManifest;
    const project = { stateDir, manifests: [manifest] } as unknown as Project;
    const endpoints = { kafkaBootstrap: '', postgresUrl: '', serviceUrls: () => ['http://127.0.0.1:1'] };
    expect(serviceEnvironment(project, manifest, endpoints, secrets).LOG_LEVEL).toBe('info');
    writeStackSettings(stateDir, { logLevel: 'debug' });
    expect(serviceEnvironment(project, manifest, endpoints, secrets).LOG_LEVEL).toBe('debug');
    expect(() => readStackSettings(stateDir, { MSCTL_LOG_LEVEL: 'loud' })).toThrow(/not a log level/);
  });

  it('gives each secret only to the services that use it', () => {
    const manifest = (name: string, gateway: boolean) => ({ name, port: 1, needs: [], gateway, routes: [] }) as unknown as ServiceManifest;
    const project = { stateDir: tmpdir(), manifests: [manifest('gateway', true), manifest('users', false), manifest('analytics', false)] } as unknown as Project;
    const endpoints = { kafkaBootstrap: '', postgresUrl: '', serviceUrls: () => ['http://127.0.0.1:1'], otlpEndpoint: 'http://127.0.0.1:2' };
    const [gateway, users, analytics] = project.manifests.map((m) => serviceEnvironment(project, m, endpoints, secrets));
    expect([gateway!.JWT_SECRET, users!.JWT_SECRET, analytics!.JWT_SECRET]).toEqual(['jwt-secret', 'jwt-secret', undefined]);
    expect([gateway!.INTERNAL_AUTH_PRIVATE_KEY, users!.INTERNAL_AUTH_PRIVATE_KEY, analytics!.INTERNAL_AUTH_PRIVATE_KEY]).toEqual(['PRIVATE KEY', undefined, undefined]);
    expect([gateway!.INTERNAL_AUTH_PUBLIC_KEY, users!.INTERNAL_AUTH_PUBLIC_KEY, analytics!.INTERNAL_AUTH_PUBLIC_KEY]).toEqual([undefined, 'PUBLIC KEY', 'PUBLIC KEY']);
    for (const env of [gateway!, users!, analytics!]) expect(JSON.stringify(env)).not.toContain('superuser-password');
  });
});
