/**
 * What the docker runtime creates, as data: one network, named volumes, and a container
 * spec per part of the stack, labelled the way Compose labels its own so `docker ps
 * --filter label=com.docker.compose.project=<p>` and Compose-aware tools see the stack.
 * Pure: tested without a daemon.
 */
import { createHash } from 'node:crypto';
import type { ServiceManifest } from '../../stack/manifest';
import { manifestOf, type Project } from '../../stack/project';
import type { StackSecrets } from '../../stack/secrets';
import { instanceName, serviceOfInstance } from '../../stack/replicas';
import { serviceDatabaseUrl } from '../../stack/database-roles';
import { runtimeEnvironment, serviceEnvironment } from '../../stack/service-env';
import { KAFKA_HEAP_SHAPE } from '../../infra/kafka/broker';
import { DEFAULT_TIMEOUT_SECONDS } from '../runtime';
import { LABEL, type InfrastructureImage } from './images';

export const COMPOSE = 'com.docker.compose';

export interface ContainerSpec {
  target: string;
  name: string;
  image: string;
  env: Record<string, string>;
  labels: Record<string, string>;
  /** container port → host port, published on 127.0.0.1 only. */
  ports: Record<number, number>;
  /** volume name → mount path. */
  volumes: Record<string, string>;
  healthcheck: { test: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number };
  aliases: string[];
}

export interface DockerStackSpec {
  project: string;
  network: string;
  volumes: Array<{ name: string; labels: Record<string, string> }>;
  containers: Record<string, ContainerSpec>;
}

export const KAFKA_INTERNAL_PORT = 9092;
export const KAFKA_CONTROLLER_PORT = 9093;
/** The listener advertised as 127.0.0.1:<published port> for tools on the host (kcat, msctl topics). */
export const KAFKA_EXTERNAL_PORT = 9094;
export const POSTGRES_PORT = 5432;

export const containerName = (project: string, service: string, instance = 1) => `${project}-${service}-${instance}`;
export const networkName = (project: string) => `${project}_default`;
export const volumeName = (project: string, volume: string) => `${project}_${volume}`;

/** The label naming the part of the stack (an instance: "users#2") a container runs. */
export const TARGET_LABEL = `${LABEL}.target`;

function composeLabels(project: Project, target: string, extra: Record<string, string>): Record<string, string> {
  const service = serviceOfInstance(target);
  const manifest = manifestOf(project, service);
  return {
    [`${COMPOSE}.project`]: project.name,
    [`${COMPOSE}.service`]: service,
    [TARGET_LABEL]: target,
    [`${COMPOSE}.container-number`]: '1',
    [`${COMPOSE}.oneoff`]: 'False',
    [`${COMPOSE}.project.working_dir`]: project.root,
    [`${COMPOSE}.project.config_files`]: manifest ? `${manifest.dir}/service.json` : '',
    [`${LABEL}.project`]: project.name,
    [`${LABEL}.kind`]: manifest ? 'service' : 'infrastructure',
    ...extra,
  };
}

/** A digest of everything that defines the container: a changed one is recreated. */
export function configHash(spec: Omit<ContainerSpec, 'labels'>): string {
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

function finish(project: Project, spec: Omit<ContainerSpec, 'labels'>, extraLabels: Record<string, string> = {}): ContainerSpec {
  return { ...spec, labels: composeLabels(project, spec.target, { [`${COMPOSE}.config-hash`]: configHash(spec), ...extraLabels }) };
}

/** Healthy once something listens on the port (busybox netstat; the image has no nc -z). */
const tcpCheck = (port: number) => ['CMD-SHELL', `netstat -ltn | grep -q ':${port} '`];

export function kafkaSpec(project: Project, image: InfrastructureImage, clusterId: string): ContainerSpec {
  const hostPort = project.infrastructure.kafkaPort;
  return finish(
    project,
    {
      target: 'kafka',
      name: containerName(project.name, 'kafka'),
      image: image.tag,
      env: {
        CLUSTER_ID: clusterId,
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: `INTERNAL://0.0.0.0:${KAFKA_INTERNAL_PORT},EXTERNAL://0.0.0.0:${KAFKA_EXTERNAL_PORT},CONTROLLER://0.0.0.0:${KAFKA_CONTROLLER_PORT}`,
        // Containers reach the broker as kafka:9092; host tools as 127.0.0.1:<published port>.
        KAFKA_ADVERTISED_LISTENERS: `INTERNAL://kafka:${KAFKA_INTERNAL_PORT},EXTERNAL://127.0.0.1:${hostPort}`,
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
        KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_CONTROLLER_QUORUM_VOTERS: `1@localhost:${KAFKA_CONTROLLER_PORT}`,
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
        KAFKA_NUM_PARTITIONS: '3',
        KAFKA_LOG_DIRS: '/var/lib/kafka/data',
        KAFKA_HEAP_OPTS: `-Xmx512m ${KAFKA_HEAP_SHAPE.join(' ')}`,
      },
      ports: { [KAFKA_EXTERNAL_PORT]: hostPort },
      volumes: { [volumeName(project.name, 'kafka-data')]: '/var/lib/kafka/data' },
      healthcheck: { test: tcpCheck(KAFKA_INTERNAL_PORT), intervalMs: 1_000, timeoutMs: 2_000, retries: 60, startPeriodMs: 60_000 },
      aliases: ['kafka'],
    },
    { [`${LABEL}.image-source`]: image.source },
  );
}

export function postgresSpec(project: Project, image: InfrastructureImage, secrets: StackSecrets): ContainerSpec {
  const user = project.infrastructure.postgresUser;
  return finish(
    project,
    {
      target: 'postgres',
      name: containerName(project.name, 'postgres'),
      image: image.tag,
      env: { POSTGRES_USER: user, POSTGRES_PASSWORD: secrets.postgresPassword, PGDATA: '/var/lib/postgresql/data/pgdata' },
      ports: { [POSTGRES_PORT]: project.infrastructure.postgresPort },
      volumes: { [volumeName(project.name, 'postgres-data')]: '/var/lib/postgresql/data' },
      healthcheck: {
        test: image.source === 'official' ? ['CMD-SHELL', `pg_isready -U ${user} -h 127.0.0.1`] : tcpCheck(POSTGRES_PORT),
        intervalMs: 1_000,
        timeoutMs: 2_000,
        retries: 60,
        startPeriodMs: 60_000,
      },
      aliases: ['postgres'],
    },
    { [`${LABEL}.image-source`]: image.source },
  );
}

/** Where a service's spans go: msctl's receiver (which wants the stack's token) or the user's collector. */
export interface TraceTarget {
  endpoint: string;
  external: boolean;
}

/** Where the other containers reach each instance of `service`: by container name, on its port. */
export function instanceUrls(project: Project, service: string, replicas: Record<string, number>): string[] {
  const port = manifestOf(project, service)?.port ?? 0;
  return Array.from({ length: replicas[service] ?? manifestOf(project, service)?.replicas ?? 1 }, (_, i) => `http://${containerName(project.name, service, i + 1)}:${port}`);
}

/**
 * One instance of a service. Instance 1 publishes the service's port on 127.0.0.1; the others
 * are reached inside the network by container name (the gateway balances across them).
 * It connects to PostgreSQL as its own role, which the docker runtime provisions before it starts.
 */
export function serviceSpec(
  project: Project,
  manifest: ServiceManifest,
  image: string,
  secrets: StackSecrets,
  instance = 1,
  replicas: Record<string, number> = {},
  otlp?: TraceTarget,
  /** The developer's env overrides: the runtime applies them, `msctl export compose` leaves them out. */
  withOverrides = true,
): ContainerSpec {
  const superuserUrl = `postgres://${project.infrastructure.postgresUser}:${encodeURIComponent(secrets.postgresPassword)}@postgres:${POSTGRES_PORT}/postgres`;
  const env = (withOverrides ? runtimeEnvironment : serviceEnvironment)(
    project,
    manifest,
    {
      kafkaBootstrap: `kafka:${KAFKA_INTERNAL_PORT}`,
      postgresUrl: superuserUrl,
      databaseUrl: (service) => serviceDatabaseUrl(superuserUrl, service, secrets),
      serviceUrls: (service) => instanceUrls(project, service, replicas),
      ...(otlp ? { otlpEndpoint: otlp.endpoint, otlpIsExternal: otlp.external } : {}),
    },
    secrets,
    // Inside the container; on the host its port is published on 127.0.0.1 only.
    { host: '0.0.0.0' },
  );
  const healthUrl = `http://127.0.0.1:${manifest.port}${manifest.healthPath}`;
  return finish(
    project,
    {
    target: instanceName(manifest.name, instance),
    name: containerName(project.name, manifest.name, instance),
    image,
    env,
    // msctl itself reads every service from the host: status and `up` poll /health, the dashboard
    // and load-test read /health and /metrics, on this port. So it stays published, on 127.0.0.1
    // only; the Compose export, which msctl does not watch, publishes the gateway's alone.
    ports: instance === 1 ? { [manifest.port]: manifest.port } : {},
    volumes: {},
    healthcheck: {
      test: ['CMD', '/usr/local/bin/node', '-e', `fetch(${JSON.stringify(healthUrl)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
      intervalMs: 1_000,
      timeoutMs: 3_000,
      retries: 3,
      startPeriodMs: (manifest.startTimeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000,
    },
    aliases: [manifest.name],
    },
    { [`${COMPOSE}.container-number`]: String(instance) },
  );
}

export function stackVolumes(project: Project): DockerStackSpec['volumes'] {
  return ['kafka-data', 'postgres-data'].map((volume) => ({
    name: volumeName(project.name, volume),
    labels: { [`${COMPOSE}.project`]: project.name, [`${COMPOSE}.volume`]: volume, [`${LABEL}.project`]: project.name },
  }));
}

/** The Engine API body that creates `spec` on `network`. */
export function createOptions(spec: ContainerSpec, network: string): Record<string, unknown> {
  const ms = (value: number) => value * 1_000_000;
  return {
    name: spec.name,
    Image: spec.image,
    Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
    Labels: spec.labels,
    ExposedPorts: Object.fromEntries(Object.keys(spec.ports).map((port) => [`${port}/tcp`, {}])),
    Healthcheck: {
      Test: spec.healthcheck.test,
      Interval: ms(spec.healthcheck.intervalMs),
      Timeout: ms(spec.healthcheck.timeoutMs),
      Retries: spec.healthcheck.retries,
      StartPeriod: ms(spec.healthcheck.startPeriodMs),
    },
    HostConfig: {
      NetworkMode: network,
      // Host port 0: one the Engine picks (a replacement's, while the old container holds the service's own).
      PortBindings: Object.fromEntries(Object.entries(spec.ports).map(([container, host]) => [`${container}/tcp`, [{ HostIp: '127.0.0.1', HostPort: host === 0 ? '' : String(host) }]])),
      Binds: Object.entries(spec.volumes).map(([volume, path]) => `${volume}:${path}`),
      RestartPolicy: { Name: 'unless-stopped' },
      Init: false,
    },
    NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: spec.aliases } } },
  };
}
