/**
 * `msctl export compose`: the stack as a Compose file. It is made from the docker runtime's own
 * container specs (src/runtime/docker/spec.ts), so `docker compose up` and
 * `msctl up --runtime docker` run the same images with the same environment, health checks,
 * volumes, network and user. Secrets never go into the Compose file: they go into env files
 * under .msctl/ (mode 0600) that the file references with `env_file`, one per service so that each
 * reads only its own. Each service connects to PostgreSQL as its own role, which owns its schema
 * and nothing else; an init script creates the roles when PostgreSQL initialises its data.
 * Only the gateway's port is published: the upstreams, Kafka and PostgreSQL are reached on the
 * stack's network only.
 * Pure: the caller resolves the images and the secrets.
 */
import { relative, dirname } from 'node:path';
import { stringify } from 'yaml';
import { APP_UID, type StackImages } from '../runtime/docker/images';
import { kafkaSpec, POSTGRES_PORT, postgresSpec, serviceSpec, type ContainerSpec } from '../runtime/docker/spec';
import type { Project } from '../stack/project';
import { desiredReplicas, serviceOfInstance } from '../stack/replicas';
import { servicePassword, type StackSecrets } from '../stack/secrets';
import { schemaFor } from '../stack/service-env';
import { serviceRoles } from '../stack/database-roles';

/** Environment variables that hold secrets: they go to env files, never into the Compose file. */
export const SECRET_KEYS = ['JWT_SECRET', 'INTERNAL_AUTH_PRIVATE_KEY', 'DATABASE_URL', 'POSTGRES_PASSWORD', 'OTEL_EXPORTER_OTLP_HEADERS'] as const;

/** The database the docker runtime's services use, where the roles' schemas are. */
const DATABASE = 'postgres';
/** Where the official PostgreSQL image runs scripts when it initialises an empty data directory. */
const INIT_SCRIPT_MOUNT = '/docker-entrypoint-initdb.d/10-msctl-roles.sql';

export interface ComposeEnvFile {
  /** Absolute path (under .msctl/). */
  path: string;
  /** As written in the Compose file: relative to the Compose file's folder. */
  reference: string;
  values: Record<string, string>;
}

export interface ComposeExport {
  /** The Compose document as data. */
  document: ComposeDocument;
  /** The Compose file's text (YAML, with a header comment). */
  text: string;
  /** The env files the document references (secrets; mode 0600). */
  envFiles: ComposeEnvFile[];
  /**
   * PostgreSQL's init script (the per-service roles). It holds no password (they reach PostgreSQL
   * through its env file), so it can be readable by the user the image runs the script as.
   */
  initScript: { path: string; reference: string; text: string };
}

export interface ComposeService {
  image: string;
  container_name: string;
  user?: string;
  environment: Record<string, string>;
  env_file?: string[];
  ports: string[];
  volumes?: string[];
  healthcheck: { test: string[]; interval: string; timeout: string; retries: number; start_period: string };
  depends_on?: Record<string, { condition: 'service_healthy' }>;
  restart: 'unless-stopped';
  stop_grace_period: string;
  networks: Record<string, { aliases: string[] }>;
  labels: Record<string, string>;
}

export interface ComposeDocument {
  services: Record<string, ComposeService>;
  networks: Record<string, { driver: string }>;
  volumes: Record<string, Record<string, never>>;
}

export interface ComposeInput {
  project: Project;
  images: StackImages;
  secrets: StackSecrets;
  /** Kafka's KRaft cluster id: the docker runtime's, so both can use the same data volume. */
  clusterId: string;
  /** Where the Compose file will be written (absolute). */
  outFile: string;
}

/** Instance 2 of users is "users#2" to msctl, "users-2" to Compose (whose names allow [a-zA-Z0-9._-]). */
export const composeKey = (target: string) => target.replace('#', '-');

/** Go-style durations Compose accepts ("1s", "500ms"). */
export const duration = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** Compose interpolates `$`: a literal one is written `$$`. */
const literal = (value: string) => value.replaceAll('$', () => '$$');

/** The volume's short name: the docker runtime names it `<project>_<short>`, as Compose does. */
const shortVolume = (project: Project, volume: string) => volume.slice(project.name.length + 1);

export const envFilePaths = (project: Project) => ({
  /** A service's own secrets (each of its instances): only what serviceEnvironment gives it. */
  service: (service: string) => `${project.stateDir}/compose.${service}.env`,
  /** The superuser's password and the services' role passwords: PostgreSQL only. */
  postgres: `${project.stateDir}/compose.postgres.env`,
  /** Creates the roles (no secret in it). */
  postgresInit: `${project.stateDir}/compose.postgres-init.sql`,
});

/** The env variable carrying a role's password to the init script. */
const rolePasswordKey = (role: string) => `MSCTL_ROLE_PASSWORD_${role.toUpperCase()}`;

/**
 * The roles, for psql (the official image's initdb runs it): each logs in, owns the schema of its
 * name in the services' database, and has no other privilege. Passwords come from the environment
 * (psql's \getenv), so the script itself is not a secret.
 */
export function rolesScript(project: Project): string {
  const lines = ['-- Generated by `msctl export compose`: one PostgreSQL role per service, owning its schema.', `\\connect ${DATABASE}`];
  for (const { role } of serviceRoles(project)) {
    lines.push(
      `\\getenv password ${rolePasswordKey(role)}`,
      `CREATE ROLE "${role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD :'password';`,
      `CREATE SCHEMA "${role}" AUTHORIZATION "${role}";`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export function composeExport(input: ComposeInput): ComposeExport {
  const { project, images, secrets } = input;
  const paths = envFilePaths(project);
  const from = dirname(input.outFile);
  const envFile = (path: string): ComposeEnvFile => ({ path, reference: relative(from, path), values: {} });
  const postgres = envFile(paths.postgres);
  const serviceFiles = new Map(project.manifests.map((manifest) => [manifest.name, envFile(paths.service(manifest.name))]));
  const roles = serviceRoles(project);
  for (const { service, role } of roles) postgres.values[rolePasswordKey(role)] = servicePassword(secrets, service);
  const initScript = { path: paths.postgresInit, reference: relative(from, paths.postgresInit), text: rolesScript(project) };

  const replicas = desiredReplicas(project);
  const specs: ContainerSpec[] = [kafkaSpec(project, images.kafka, input.clusterId), postgresSpec(project, images.postgres, secrets)];
  /** Compose service keys of every instance of a part of the stack ("users", "users-2", …). */
  const instancesOf = new Map<string, string[]>([['kafka', ['kafka']], ['postgres', ['postgres']]]);
  for (const manifest of project.manifests) {
    const image = images.services[manifest.name];
    if (!image) throw new Error(`no image for ${manifest.name}`);
    const count = replicas[manifest.name] ?? manifest.replicas;
    instancesOf.set(manifest.name, []);
    for (let instance = 1; instance <= count; instance++) {
      const spec = serviceSpec(project, manifest, image, secrets, instance, replicas, undefined, false);
      // Its own role, not the superuser the docker runtime's services use.
      if (spec.env.DATABASE_URL !== undefined) {
        const role = schemaFor(manifest.name);
        spec.env.DATABASE_URL = `postgres://${role}:${encodeURIComponent(servicePassword(secrets, manifest.name))}@postgres:${POSTGRES_PORT}/${DATABASE}`;
      }
      specs.push(spec);
      instancesOf.get(manifest.name)!.push(composeKey(spec.target));
    }
  }

  const services: Record<string, ComposeService> = {};
  const volumes: ComposeDocument['volumes'] = {};
  for (const spec of specs) {
    const environment: Record<string, string> = {};
    const envFiles = new Set<ComposeEnvFile>();
    for (const [key, value] of Object.entries(spec.env)) {
      if (!(SECRET_KEYS as readonly string[]).includes(key)) {
        environment[key] = literal(value);
        continue;
      }
      const file = spec.target === 'postgres' ? postgres : serviceFiles.get(serviceOfInstance(spec.target));
      if (!file) throw new Error(`${key} of ${spec.target}: no env file for it`);
      if (file.values[key] !== undefined && file.values[key] !== value) throw new Error(`${key} differs between instances of ${spec.target}`);
      file.values[key] = value;
      envFiles.add(file);
    }
    const manifest = project.manifests.find((m) => m.name === serviceOfInstance(spec.target));
    const needs = manifest?.needs ?? [];
    // The official PostgreSQL image starts as root and drops to its own user; every other image runs as uid 1000.
    const runsAsItself = spec.target === 'postgres' && images.postgres.source === 'official';
    const service: ComposeService = {
      image: spec.image,
      // The docker runtime's container name: the gateway reaches each instance by it, with Compose v1 or v2.
      container_name: spec.name,
      ...(runsAsItself ? {} : { user: `${APP_UID}:${APP_UID}` }),
      environment,
      ...(envFiles.size > 0 ? { env_file: [...envFiles].map((file) => file.reference) } : {}),
      // The gateway is the one door; msctl does not manage this stack, so nothing else needs a port on the host.
      ports: manifest?.gateway ? Object.entries(spec.ports).map(([container, host]) => `127.0.0.1:${host}:${container}`) : [],
      ...(Object.keys(spec.volumes).length > 0 || spec.target === 'postgres'
        ? {
            volumes: [
              ...Object.entries(spec.volumes).map(([volume, path]) => `${shortVolume(project, volume)}:${path}`),
              ...(spec.target === 'postgres' ? [`${initScript.reference}:${INIT_SCRIPT_MOUNT}:ro`] : []),
            ],
          }
        : {}),
      healthcheck: {
        test: spec.healthcheck.test.map(literal),
        interval: duration(spec.healthcheck.intervalMs),
        timeout: duration(spec.healthcheck.timeoutMs),
        retries: spec.healthcheck.retries,
        start_period: duration(spec.healthcheck.startPeriodMs),
      },
      ...(needs.length > 0
        ? { depends_on: Object.fromEntries(needs.flatMap((need) => instancesOf.get(need) ?? [need]).map((key) => [key, { condition: 'service_healthy' as const }])) }
        : {}),
      restart: 'unless-stopped',
      // msctl down gives a container 15 s; a service drains within SHUTDOWN_TIMEOUT_MS (10 s).
      stop_grace_period: '15s',
      networks: { default: { aliases: spec.aliases } },
      labels: { 'dev.msctl.project': project.name, 'dev.msctl.kind': manifest ? 'service' : 'infrastructure' },
    };
    for (const volume of Object.keys(spec.volumes)) volumes[shortVolume(project, volume)] = {};
    services[composeKey(spec.target)] = service;
  }
  // Infrastructure first, then services in start order: the file reads like `msctl up --dry-run`.
  const order = project.graph.startOrder().flatMap((name) => instancesOf.get(name) ?? []);
  const document: ComposeDocument = {
    services: Object.fromEntries(order.map((key) => [key, services[key]!])),
    networks: { default: { driver: 'bridge' } },
    volumes,
  };
  const header = [
    `# The ${project.name} stack, generated by \`msctl export compose\`: the same images, environment,`,
    '# health checks, volumes and network as `msctl up --runtime docker`. Regenerate rather than edit.',
    `# Secrets are not in this file: they are in ${[...serviceFiles.values(), postgres].filter((file) => Object.keys(file.values).length > 0).map((file) => file.reference).join(', ')} (mode 0600),`,
    '# each read by its own service only. Only the gateway publishes a port.',
    `#   docker compose -f ${relative(project.root, input.outFile) || 'compose.yaml'} up -d`,
    '',
  ].join('\n');
  return {
    document,
    text: header + stringify(document, { lineWidth: 0 }),
    envFiles: [...serviceFiles.values(), postgres].filter((file) => Object.keys(file.values).length > 0),
    initScript,
  };
}

/**
 * An env file's text: KEY=value lines. msctl's secrets are URL-safe and need no quoting, but a
 * PEM key spans lines: such a value is written double-quoted, newlines as `\n`, which Compose's env-file parser
 * (python-dotenv in v1, godotenv in v2) turns back into newlines.
 */
export function envFileText(file: ComposeEnvFile): string {
  const lines = ['# Secrets for the Compose file msctl exported. Keep private (mode 0600); do not commit.'];
  for (const [key, value] of Object.entries(file.values)) {
    if (/[\t\r'"#$\\]/.test(value)) throw new Error(`${key} holds characters an env file cannot carry`);
    lines.push(/[\n ]/.test(value) ? `${key}="${value.replaceAll('\n', '\\n')}"` : `${key}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}
