/**
 * `msctl export compose`: the stack as a Compose file. It is made from the docker runtime's own
 * container specs (src/runtime/docker/spec.ts), so `docker compose up` and
 * `msctl up --runtime docker` run the same images with the same environment, health checks,
 * volumes, network and user. Secrets never go into the Compose file: they go into env files
 * under .msctl/ (mode 0600) that the file references with `env_file`.
 * Pure: the caller resolves the images and the secrets.
 */
import { relative, dirname } from 'node:path';
import { stringify } from 'yaml';
import { APP_UID, type StackImages } from '../runtime/docker/images';
import { kafkaSpec, postgresSpec, serviceSpec, type ContainerSpec } from '../runtime/docker/spec';
import type { Project } from '../stack/project';
import { desiredReplicas, serviceOfInstance } from '../stack/replicas';
import type { StackSecrets } from '../stack/secrets';

/** Environment variables that hold secrets: they go to env files, never into the Compose file. */
export const SECRET_KEYS = ['JWT_SECRET', 'DATABASE_URL', 'POSTGRES_PASSWORD'] as const;

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
  /** JWT_SECRET: every service. */
  common: `${project.stateDir}/compose.env`,
  /** The database password (POSTGRES_PASSWORD, DATABASE_URL): PostgreSQL and the services that need it. */
  postgres: `${project.stateDir}/compose.postgres.env`,
});

export function composeExport(input: ComposeInput): ComposeExport {
  const { project, images, secrets } = input;
  const paths = envFilePaths(project);
  const from = dirname(input.outFile);
  const common: ComposeEnvFile = { path: paths.common, reference: relative(from, paths.common), values: {} };
  const postgres: ComposeEnvFile = { path: paths.postgres, reference: relative(from, paths.postgres), values: {} };

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
      const spec = serviceSpec(project, manifest, image, secrets, instance, replicas);
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
      const file = key === 'JWT_SECRET' ? common : postgres;
      if (file.values[key] !== undefined && file.values[key] !== value) throw new Error(`${key} differs between services`);
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
      ports: Object.entries(spec.ports).map(([container, host]) => `127.0.0.1:${host}:${container}`),
      ...(Object.keys(spec.volumes).length > 0
        ? { volumes: Object.entries(spec.volumes).map(([volume, path]) => `${shortVolume(project, volume)}:${path}`) }
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
    `# Secrets are not in this file: they are in ${[common, postgres].map((file) => file.reference).join(' and ')} (mode 0600).`,
    `#   docker compose -f ${relative(project.root, input.outFile) || 'compose.yaml'} up -d`,
    '',
  ].join('\n');
  return {
    document,
    text: header + stringify(document, { lineWidth: 0 }),
    envFiles: [common, postgres].filter((file) => Object.keys(file.values).length > 0),
  };
}

/** An env file's text: KEY=value lines (msctl's secrets are URL-safe: no quoting needed). */
export function envFileText(file: ComposeEnvFile): string {
  const lines = ['# Secrets for the Compose file msctl exported. Keep private (mode 0600); do not commit.'];
  for (const [key, value] of Object.entries(file.values)) {
    if (/[\s'"#$\\]/.test(value)) throw new Error(`${key} holds characters an env file cannot carry unquoted`);
    lines.push(`${key}=${value}`);
  }
  return `${lines.join('\n')}\n`;
}
