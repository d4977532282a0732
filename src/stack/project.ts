import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MsctlError } from '../core/errors';
import { DependencyGraph, type StackNode } from './graph';
import { INFRASTRUCTURE, loadManifests, type ServiceManifest } from './manifest';

/** Where the infrastructure listens on this machine. Overridable per environment. */
export interface InfrastructureSettings {
  kafkaPort: number;
  kafkaControllerPort: number;
  postgresPort: number;
  postgresUser: string;
}

export interface Project {
  root: string;
  servicesDir: string;
  /** `.msctl/`: state, secrets, logs and local data of this stack. */
  stateDir: string;
  /** Names the stack: Docker labels, Kafka client ids. */
  name: string;
  manifests: ServiceManifest[];
  graph: DependencyGraph;
  infrastructure: InfrastructureSettings;
  /** Per-stack settings (`.msctl/settings.json`, env overrides) as read when the project was loaded. */
  settings: StackSettings;
}

/**
 * Per-stack settings the runtime passes to services: `.msctl/settings.json`
 * (`{"rateLimitPerSecond": 5000, "tracesPerSecond": "all", "logLevel": "debug"}`), overridden by
 * the environment (`MSCTL_RATE_LIMIT_PER_SECOND`, `MSCTL_TRACES_PER_SECOND`, `MSCTL_LOG_LEVEL`).
 * Unset means the service's own default (the gateway: 100 requests/s per client; tracing: 10 new
 * traces a second per service; logs: info).
 */
export interface StackSettings {
  rateLimitPerSecond?: number;
  /** New traces a second each service starts (0: only those a client asks for), or every one. */
  tracesPerSecond?: number | 'all';
  /** Every service's LOG_LEVEL (default info; debug logs every request). */
  logLevel?: LogLevel;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const logLevelOf = (value: unknown): LogLevel | undefined => (LOG_LEVELS as readonly unknown[]).includes(value) ? (value as LogLevel) : undefined;

const tracesPerSecond = (value: unknown): number | 'all' | undefined => {
  if (value === 'all') return 'all';
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
};

export const stackSettingsFile = (stateDir: string) => join(stateDir, 'settings.json');

const positiveInteger = (value: unknown): number | undefined => {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
};

/** Read afresh on every call, so a service restarted after a change picks it up. */
export function readStackSettings(stateDir: string, env: NodeJS.ProcessEnv = process.env): StackSettings {
  const settings: StackSettings = {};
  const file = stackSettingsFile(stateDir);
  if (existsSync(file)) {
    let saved: Record<string, unknown>;
    try {
      saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new MsctlError('USAGE', `${file} is not valid JSON`, 'fix or delete it', { cause: error });
    }
    const limit = positiveInteger(saved.rateLimitPerSecond);
    if (limit !== undefined) settings.rateLimitPerSecond = limit;
    const traces = tracesPerSecond(saved.tracesPerSecond);
    if (traces !== undefined) settings.tracesPerSecond = traces;
    const level = logLevelOf(saved.logLevel);
    if (level !== undefined) settings.logLevel = level;
  }
  const levelFromEnv = env.MSCTL_LOG_LEVEL;
  if (levelFromEnv !== undefined && levelFromEnv !== '') {
    const level = logLevelOf(levelFromEnv.trim());
    if (level === undefined) throw new MsctlError('USAGE', `MSCTL_LOG_LEVEL=${levelFromEnv} is not a log level`, `use one of ${LOG_LEVELS.join(', ')}`);
    settings.logLevel = level;
  }
  const tracesFromEnv = env.MSCTL_TRACES_PER_SECOND;
  if (tracesFromEnv !== undefined && tracesFromEnv !== '') {
    const value = tracesPerSecond(tracesFromEnv.trim());
    if (value === undefined) throw new MsctlError('USAGE', `MSCTL_TRACES_PER_SECOND=${tracesFromEnv} is neither a number of traces a second nor "all"`);
    settings.tracesPerSecond = value;
  }
  const fromEnv = env.MSCTL_RATE_LIMIT_PER_SECOND;
  if (fromEnv !== undefined && fromEnv !== '') {
    const limit = positiveInteger(fromEnv);
    if (limit === undefined) throw new MsctlError('USAGE', `MSCTL_RATE_LIMIT_PER_SECOND=${fromEnv} is not a positive whole number`);
    settings.rateLimitPerSecond = limit;
  }
  return settings;
}

/**
 * Creates `.msctl/` for this user alone (0700), and closes one found more open: it holds the
 * stack's secrets, its data and the supervisor's control socket. Run as root, msctl starts
 * PostgreSQL as the `postgres` user, which must pass through to its own data directory: others
 * may then traverse `.msctl/` (0711) but still neither list it nor read what it holds.
 */
export function stateDirMode(uid: number | undefined = process.getuid?.()): number {
  return uid === 0 ? 0o711 : 0o700;
}

export function ensureStateDir(stateDir: string): void {
  const mode = stateDirMode();
  mkdirSync(stateDir, { recursive: true, mode });
  if ((statSync(stateDir).mode & 0o777) !== mode) chmodSync(stateDir, mode);
}

/** Merges `changes` into `.msctl/settings.json`. */
export function writeStackSettings(stateDir: string, changes: StackSettings): void {
  const file = stackSettingsFile(stateDir);
  const current = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  ensureStateDir(stateDir);
  writeFileSync(file, `${JSON.stringify({ ...current, ...changes }, null, 2)}\n`);
}

function portFromEnv(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const value = env[key];
  if (value === undefined || value === '') return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new MsctlError('USAGE', `${key}=${value} is not a port number`, 'use a whole number from 1 to 65535');
  }
  return port;
}

export function infrastructureSettings(env: NodeJS.ProcessEnv = process.env): InfrastructureSettings {
  return {
    kafkaPort: portFromEnv(env, 'MSCTL_KAFKA_PORT', 19092),
    kafkaControllerPort: portFromEnv(env, 'MSCTL_KAFKA_CONTROLLER_PORT', 19093),
    postgresPort: portFromEnv(env, 'MSCTL_POSTGRES_PORT', 15432),
    postgresUser: 'msctl',
  };
}

const isProjectRoot = (dir: string) => {
  const services = join(dir, 'services');
  if (!existsSync(services)) return false;
  try {
    return readdirSync(services).some((name) => existsSync(join(services, name, 'service.json')));
  } catch {
    return false;
  }
};

/** The nearest folder at or above `start` whose services/ holds at least one service manifest. */
export function findProjectRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (isProjectRoot(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new MsctlError(
        'USAGE',
        `no msctl project at or above ${resolve(start)} (a project has services/<name>/service.json)`,
        'run msctl inside the project, or pass --project-dir <dir>',
      );
    }
    dir = parent;
  }
}

export function stackNodes(manifests: ServiceManifest[]): StackNode[] {
  return [
    ...INFRASTRUCTURE.map((name): StackNode => ({ name, kind: 'infrastructure', needs: [] })),
    ...manifests.map((manifest): StackNode => ({ name: manifest.name, kind: 'service', needs: manifest.needs })),
  ];
}

export async function loadProject(projectDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Project> {
  const root = projectDir ? resolve(projectDir) : findProjectRoot(process.cwd());
  if (projectDir && !isProjectRoot(root)) {
    throw new MsctlError('USAGE', `${root} is not an msctl project (no services/<name>/service.json)`, 'pass the folder that holds services/');
  }
  const servicesDir = join(root, 'services');
  const manifests = await loadManifests(servicesDir);
  return {
    root,
    servicesDir,
    stateDir: join(root, '.msctl'),
    name: root.split('/').filter(Boolean).at(-1)!.toLowerCase().replace(/[^a-z0-9_-]/g, '-'),
    manifests,
    graph: new DependencyGraph(stackNodes(manifests)),
    infrastructure: infrastructureSettings(env),
    settings: readStackSettings(join(root, '.msctl'), env),
  };
}

export function manifestOf(project: Project, name: string): ServiceManifest | undefined {
  return project.manifests.find((manifest) => manifest.name === name);
}
