/**
 * The pure parts of reaching a service: which keys a developer's override files set (and which
 * they may not), how `msctl env` masks the stack's secrets, psql's arguments and environment, and
 * the sign-up-then-log-in of `msctl token [username]` against a fake gateway.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MASK, maskSecrets, secretValues } from '../../src/cli/commands/env/mask';
import { shellQuoted } from '../../src/cli/commands/env/run';
import { psqlInvocation } from '../../src/cli/commands/psql/run';
import { devPassword, devUserToken } from '../../src/cli/commands/token/dev-user';
import type { ServiceManifest } from '../../src/stack/manifest';
import type { Project } from '../../src/stack/project';
import { readEnvOverrides } from '../../src/stack/env-overrides';
import { serviceDatabaseUrl } from '../../src/stack/database-roles';
import { servicePassword, type StackSecrets } from '../../src/stack/secrets';
import { runtimeEnvironment } from '../../src/stack/service-env';
import { KNOWN_SECRETS } from '../export/fixture';

/** A superuser password URL-encoding changes, so that both of its forms are looked for. */
const secrets: StackSecrets = { ...KNOWN_SECRETS, postgresPassword: 'superuser/password+1' };

async function fakeProject(): Promise<{ project: Project; users: ServiceManifest }> {
  const root = await mkdtemp(join(tmpdir(), 'msctl-reach-'));
  const users = { name: 'users', dir: join(root, 'services', 'users'), port: 4001, needs: ['postgres', 'kafka'], routes: [], gateway: false } as unknown as ServiceManifest;
  await mkdir(users.dir, { recursive: true });
  await mkdir(join(root, '.msctl', 'env'), { recursive: true });
  const project = { root, stateDir: join(root, '.msctl'), manifests: [users] } as unknown as Project;
  return { project, users };
}

describe('env overrides', () => {
  it('reads services/<name>/.env then .msctl/env/<name>.env (the latter wins), in dotenv syntax', async () => {
    const { project, users } = await fakeProject();
    expect(readEnvOverrides(project, users)).toEqual({ values: {}, sources: {} });
    await writeFile(join(users.dir, '.env'), '# mine\nLOG_LEVEL=warn\nexport GREETING="hello world"\nQUOTED=\'a # b\' # a comment\n');
    await writeFile(join(project.stateDir, 'env', 'users.env'), 'LOG_LEVEL=debug\n');
    const { values, sources } = readEnvOverrides(project, users);
    expect(values).toEqual({ LOG_LEVEL: 'debug', GREETING: 'hello world', QUOTED: 'a # b' });
    expect(sources.LOG_LEVEL).toBe(join(project.stateDir, 'env', 'users.env'));
    expect(sources.GREETING).toBe(join(users.dir, '.env'));
  });

  it('lies on top of serviceEnvironment, secrets included, but not on what the runtime needs to reach the service', async () => {
    const { project, users } = await fakeProject();
    const endpoints = { kafkaBootstrap: '127.0.0.1:9092', postgresUrl: 'postgres://msctl:pw@127.0.0.1:5432/postgres', serviceUrls: () => [] };
    await writeFile(join(users.dir, '.env'), 'LOG_LEVEL=debug\nJWT_SECRET=my-own\n');
    const env = runtimeEnvironment(project, users, endpoints, secrets);
    expect(env.LOG_LEVEL).toBe('debug');
    expect(env.JWT_SECRET).toBe('my-own');
    expect(env.KAFKA_BROKERS).toBe('127.0.0.1:9092');
    await writeFile(join(users.dir, '.env'), 'PORT=1234\n');
    expect(() => runtimeEnvironment(project, users, endpoints, secrets)).toThrow(/sets PORT, which the runtime decides/);
  });
});

describe('msctl env masking', () => {
  it('masks every value from the stack secrets wherever it appears, and keys named as secrets', async () => {
    const { project } = await fakeProject();
    const databaseUrl = serviceDatabaseUrl('postgres://msctl:x@127.0.0.1:5432/postgres', 'users', secrets);
    const env = {
      JWT_SECRET: secrets.jwtSecret,
      INTERNAL_AUTH_PUBLIC_KEY: secrets.internalAuth.publicKey,
      DATABASE_URL: databaseUrl,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${secrets.otlpToken}`,
      ADMIN_URL: `postgres://msctl:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:5432/postgres`,
      MY_API_TOKEN: 'from-an-override',
      LOG_LEVEL: 'info',
    };
    const { env: shown, masked } = maskSecrets(env, secretValues(project, secrets));
    expect(shown).toEqual({
      JWT_SECRET: MASK,
      INTERNAL_AUTH_PUBLIC_KEY: MASK,
      DATABASE_URL: `postgres://users:${MASK}@127.0.0.1:5432/postgres`,
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${MASK}`,
      ADMIN_URL: `postgres://msctl:${MASK}@127.0.0.1:5432/postgres`,
      MY_API_TOKEN: MASK,
      LOG_LEVEL: 'info',
    });
    expect(masked.sort()).toEqual(['ADMIN_URL', 'DATABASE_URL', 'INTERNAL_AUTH_PUBLIC_KEY', 'JWT_SECRET', 'MY_API_TOKEN', 'OTEL_EXPORTER_OTLP_HEADERS']);
    expect(JSON.stringify(shown)).not.toContain(servicePassword(secrets, 'users'));
  });

  it('quotes values for a POSIX shell only when they need it', () => {
    expect(shellQuoted('127.0.0.1:9092')).toBe('127.0.0.1:9092');
    expect(shellQuoted('{"a":1}')).toBe(`'{"a":1}'`);
    expect(shellQuoted("it's")).toBe(`'it'\\''s'`);
  });
});

describe('msctl psql', () => {
  it('passes the password in the environment, never in the arguments, and the schema as the search_path', () => {
    const url = new URL(serviceDatabaseUrl('postgres://msctl:x@127.0.0.1:5432/postgres', 'data-processing', secrets));
    const { args, env } = psqlInvocation(url, 'data_processing', 'select 1');
    expect(args).toEqual(['--host', '127.0.0.1', '--port', '5432', '--username', 'data_processing', '--dbname', 'postgres', '--command', 'select 1']);
    expect(args.join(' ')).not.toContain(servicePassword(secrets, 'data-processing'));
    expect(env.PGPASSWORD).toBe(servicePassword(secrets, 'data-processing'));
    expect(env.PGOPTIONS).toBe('-c search_path=data_processing');
    const superuser = psqlInvocation(new URL(`postgres://msctl:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:5432/postgres`), undefined, undefined);
    expect(superuser.env.PGPASSWORD).toBe(secrets.postgresPassword);
    expect(superuser.env.PGOPTIONS).toBeUndefined();
    expect(superuser.args).not.toContain('--command');
  });
});

describe('msctl token [username]', () => {
  const answer = (status: number, body: Record<string, unknown> = {}) => ({ status, body, retryAfter: null });

  it('signs the user up the first time, then only logs in', async () => {
    const calls: string[] = [];
    const users = new Map<string, string>();
    const post = async (path: string, body: unknown) => {
      const { username, password } = body as { username: string; password: string };
      calls.push(path);
      if (path === '/api/users') {
        if (users.has(username)) return answer(409);
        users.set(username, password);
        return answer(201);
      }
      return users.get(username) === password ? answer(200, { accessToken: `token-of-${username}`, tokenType: 'Bearer', expiresIn: 900 }) : answer(401);
    };
    const password = devPassword(secrets, 'dev');
    expect(await devUserToken(post, 'dev', password)).toEqual({ accessToken: 'token-of-dev', tokenType: 'Bearer', expiresIn: 900, username: 'dev', created: true });
    expect(calls).toEqual(['/api/auth/token', '/api/users', '/api/auth/token']);
    calls.length = 0;
    expect((await devUserToken(post, 'dev', password)).created).toBe(false);
    expect(calls).toEqual(['/api/auth/token']);
    // The same stack derives the same password; another name gets another one.
    expect(devPassword(secrets, 'dev')).toBe(password);
    expect(devPassword(secrets, 'ada')).not.toBe(password);
    users.set('taken', 'someone else');
    await expect(devUserToken(post, 'taken', devPassword(secrets, 'taken'))).rejects.toThrow(/exists, with another password/);
  });

  it('says what to do when the stack refuses', async () => {
    await expect(devUserToken(async () => ({ status: 429, body: { message: 'slow down' }, retryAfter: '7' }), 'dev', 'pw')).rejects.toMatchObject({ hint: 'try again in 7 seconds' });
    await expect(devUserToken(async () => answer(503, { message: 'users unavailable' }), 'dev', 'pw')).rejects.toThrow(/answered 503/);
  });
});
