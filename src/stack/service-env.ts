import { MsctlError } from '../core/errors';
import { readEnvOverrides } from './env-overrides';
import { gatewayRoutes, type ServiceManifest } from './manifest';
import { manifestOf, readStackSettings, type Project } from './project';
import { instanceIndex, serviceOfInstance } from './replicas';
import type { StackSecrets } from './secrets';

export interface StackEndpoints {
  kafkaBootstrap: string;
  /** PostgreSQL as its superuser: services get it only when there is no databaseUrl. */
  postgresUrl: string;
  /** A service's DATABASE_URL, as its own role (serviceDatabaseUrl in ./database-roles). */
  databaseUrl?: (service: string) => string;
  /** The base URLs other services use to reach every instance of `service`. */
  serviceUrls: (service: string) => string[];
  /** The OTLP/HTTP endpoint services export spans to (OTEL_EXPORTER_OTLP_ENDPOINT). */
  otlpEndpoint?: string;
  /** The endpoint is a collector the user named, not msctl's receiver: it gets no stack token. */
  otlpIsExternal?: boolean;
}

/**
 * How Node runs a service, on both runtimes.
 * - No --enable-source-maps: it parses each bundle's 6 MB map at start, ~38 MB of RSS per
 *   service; the bundles are not minified, so a stack trace still names each function and the
 *   `// node_modules/…` line above it names its module. Add it back with
 *   MSCTL_SERVICE_NODE_OPTIONS=--enable-source-maps (local runtime).
 * - Young generation capped at 16 MB a semi-space (Node's default before V8 11): on a machine
 *   with much memory V8 now grows it to 64 MB each, and a service that saw one load run kept
 *   134 MB of new space committed for 15 MB of young objects.
 * - `--expose-gc`: once a load run is over, the kit collects once (releaseMemoryWhenIdle in
 *   services/kit/src/memory.ts), and the old generation's pages grown under load are returned.
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=16', '--expose-gc'];

/**
 * glibc's allocator, tuned for a process of msctl's stack (the services and the supervisor) and
 * its few threads: at most two arenas (not eight per core), and a block of 16 KiB or more always
 * mapped on its own, so that it is returned when freed. Without a fixed threshold glibc raises
 * its own after the first large free and keeps every later one: users' password hashes (16 MB
 * each, on libuv's threads) held ~100 MB after a load run. At 256 KiB the heap was left
 * fragmented by blocks of tens of KiB (the supervisor's 64 KiB pipe reads among them): 43 MB
 * freed in the supervisor that could not be given back (`malloc_trim(0)` in gdb gave back all
 * of it). At 16 KiB, idle after start: supervisor 85 → 77 MB, services 4–7 MB less each (gateway
 * 95 → 88 MB); during `msctl load-test users` the same CPU per request (/proc ticks).
 */
export const SERVICE_ALLOCATOR_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '16384' };

/** The service that signs end users' tokens (and so needs JWT_SECRET besides the gateway). */
export const USERS_SERVICE = 'users';

export const schemaFor = (service: string) => service.replaceAll('-', '_');

/**
 * The environment a service instance starts with: where the infrastructure is, its schema,
 * the stack's secrets, and — for a service that routes (the gateway) — the routing table
 * built from every manifest.
 */
export function serviceEnvironment(
  project: Project,
  manifest: ServiceManifest,
  endpoints: StackEndpoints,
  secrets: StackSecrets,
  overrides: { port?: number; logLevel?: string; host?: string } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    SERVICE_NAME: manifest.name,
    // Inside a container the service listens on every interface; its port is published on 127.0.0.1 only.
    HOST: overrides.host ?? '127.0.0.1',
    PORT: String(overrides.port ?? manifest.port),
    LOG_LEVEL: overrides.logLevel ?? readStackSettings(project.stateDir).logLevel ?? 'info',
    NODE_ENV: 'production',
    ...SERVICE_ALLOCATOR_ENV,
  };
  // Least privilege: the user-token secret only where tokens are signed (users) or verified
  // (the gateway); the internal key's private half only in the gateway, its public half in every
  // service the gateway calls.
  if (manifest.gateway) {
    env.JWT_SECRET = secrets.jwtSecret;
    env.INTERNAL_AUTH_PRIVATE_KEY = secrets.internalAuth.privateKey;
  } else {
    env.INTERNAL_AUTH_PUBLIC_KEY = secrets.internalAuth.publicKey;
    if (manifest.name === USERS_SERVICE) env.JWT_SECRET = secrets.jwtSecret;
  }
  if (manifest.needs.includes('kafka')) {
    env.KAFKA_BROKERS = endpoints.kafkaBootstrap;
    env.KAFKA_TOPIC_PREFIX = '';
  }
  if (manifest.needs.includes('postgres')) {
    env.DATABASE_URL = endpoints.databaseUrl?.(manifest.name) ?? endpoints.postgresUrl;
    env.DATABASE_SCHEMA = schemaFor(manifest.name);
  }
  // Spans go to msctl's trace receiver, or to the collector the user named.
  if (endpoints.otlpEndpoint) {
    env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoints.otlpEndpoint;
    // The receiver answers only the stack's own services.
    if (!endpoints.otlpIsExternal) env.OTEL_EXPORTER_OTLP_HEADERS = `authorization=Bearer ${secrets.otlpToken}`;
  }
  // Unset: the kit's default, 10 new traces a second per service (and every one a client asks for).
  const { tracesPerSecond } = readStackSettings(project.stateDir);
  if (tracesPerSecond === 'all') env.OTEL_TRACES_SAMPLER = 'parentbased_always_on';
  else if (tracesPerSecond !== undefined) {
    env.OTEL_TRACES_SAMPLER = 'parentbased_rate_limited';
    env.OTEL_TRACES_SAMPLER_ARG = String(tracesPerSecond);
  }
  if (manifest.gateway) {
    env.GATEWAY_ROUTES = JSON.stringify(gatewayRoutes(project.manifests, endpoints.serviceUrls));
    // Per-stack setting, read afresh so `msctl restart gateway` applies a changed limit.
    const { rateLimitPerSecond } = readStackSettings(project.stateDir);
    if (rateLimitPerSecond !== undefined) env.RATE_LIMIT_PER_SECOND = String(rateLimitPerSecond);
  }
  if (manifest.name === USERS_SERVICE) {
    // A raised per-client rate raises the public routes' per-address limit to match: a load
    // test signs its users up from one address.
    const { rateLimitPerSecond } = readStackSettings(project.stateDir);
    if (rateLimitPerSecond !== undefined) env.PUBLIC_LIMIT_PER_ADDRESS = String(rateLimitPerSecond * 60);
  }
  return env;
}

/**
 * What a runtime starts a service instance with: serviceEnvironment, then the developer's
 * overrides (services/<name>/.env, .msctl/env/<name>.env) on top. Both runtimes start services
 * with it and `msctl env` shows it; the exports use serviceEnvironment alone. An override may
 * replace anything but what the runtime needs to reach the service (RESERVED_KEYS), secrets and
 * infrastructure addresses included: it is the developer's own machine, and `msctl env` marks it.
 */
export function runtimeEnvironment(...args: Parameters<typeof serviceEnvironment>): Record<string, string> {
  const [project, manifest] = args;
  return { ...serviceEnvironment(...args), ...readEnvOverrides(project, manifest).values };
}

/** The manifest of the service `target` names ("users", or one of its instances, "users#2"). */
export function serviceOfTarget(project: Project, target: string): ServiceManifest {
  const manifest = manifestOf(project, serviceOfInstance(target));
  const index = instanceIndex(target);
  if (manifest && Number.isInteger(index) && index >= 1) return manifest;
  const services = project.manifests.map((m) => m.name).join(', ');
  const infrastructure = project.graph.names.includes(target);
  throw new MsctlError('USAGE', infrastructure ? `${target} is infrastructure, not a service` : `no service named ${target}`, `the services are: ${services}`);
}
