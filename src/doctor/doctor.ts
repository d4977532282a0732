/**
 * `msctl doctor`: what this machine has and lacks for running the stack, each problem with
 * its fix. Returns data; the command renders it. Everything that touches the outside is a
 * probe passed in (see systemProbes for the real ones), so the rules are tested with fakes.
 */
import { existsSync } from 'node:fs';
import { access, constants, readdir, readFile, statfs } from 'node:fs/promises';
import { request } from 'node:http';
import { homedir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { isMsctlError } from '../core/errors';
import type { StackStatus } from '../runtime/types';
import type { InfrastructureSettings } from '../stack/project';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it; present on every check that is not ok. */
  fix?: string;
}

export interface DoctorReport {
  checks: DoctorCheck[];
  /** False when any check failed (warnings are fine). */
  ok: boolean;
}

export type KafkaJarsProbe =
  | { kind: 'kafka-home'; dir: string; jars: number }
  | { kind: 'cached'; dir: string }
  | { kind: 'maven-local'; dir: string }
  | { kind: 'mvn'; path: string }
  | { kind: 'missing'; problem?: string };

export type DockerProbe = { ok: true; endpoint: string } | { ok: false; endpoint: string; reason: string };

export interface DoctorProbes {
  /** The Node version msctl runs on, like "24.3.0". */
  nodeVersion(): string;
  /** Resolves the Java runtime; rejects (an MsctlError with a hint) when missing or too old. */
  java(): Promise<{ major: number; version: string; path: string }>;
  kafkaJars(): Promise<KafkaJarsProbe>;
  docker(): Promise<DockerProbe>;
  portFree(port: number): Promise<boolean>;
  /** Ports this stack's own processes hold: its state file's, and those of what its runtime reports running (empty when none). */
  msctlPorts(): Promise<Set<number>>;
  /** Bytes available to msctl on the file system of `dir`. */
  diskFree(dir: string): Promise<number>;
  /** The path of an executable on PATH, or undefined. */
  which(command: string): Promise<string | undefined>;
}

export interface PortToCheck {
  port: number;
  /** Who needs it: "kafka", "postgres", a service name. */
  what: string;
  /** The environment variable that moves it, if any. */
  env?: string;
}

export interface DoctorInput {
  /** Project folder (disk check); the current folder outside a project. */
  dir: string;
  ports: PortToCheck[];
  /** Set when no project was found: reported as a warning. */
  projectProblem?: { message: string; hint?: string };
  minNodeMajor?: number;
  minDiskBytes?: number;
}

export const MIN_NODE_MAJOR = 22;
export const MIN_DISK_BYTES = 2 * 1024 ** 3;

const formatBytes = (bytes: number): string => {
  const gib = bytes / 1024 ** 3;
  return gib >= 1 ? `${gib.toFixed(1)} GiB` : `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
};

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function runDoctor(input: DoctorInput, probes: DoctorProbes): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const minNode = input.minNodeMajor ?? MIN_NODE_MAJOR;
  const minDisk = input.minDiskBytes ?? MIN_DISK_BYTES;

  if (input.projectProblem) {
    checks.push({
      name: 'project',
      status: 'warn',
      detail: input.projectProblem.message,
      fix: input.projectProblem.hint ?? 'run msctl inside the project, or pass --project-dir <dir>',
    });
  }

  // Node
  const node = probes.nodeVersion();
  const nodeMajor = Number.parseInt(node.replace(/^v/, ''), 10);
  checks.push(
    nodeMajor >= minNode
      ? { name: 'node', status: 'ok', detail: `Node.js ${node}` }
      : {
          name: 'node',
          status: 'fail',
          detail: `Node.js ${node} is too old (msctl needs ${minNode}+)`,
          fix: `install Node.js ${minNode} or newer, or run \`npx msctl\` inside the project (it uses the pinned Node 24)`,
        },
  );

  // The probes that may take a moment run together.
  const [java, jars, docker, disk, kcat, msctlPorts, portsFree] = await Promise.all([
    probes.java().then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    probes.kafkaJars().catch((error: unknown): KafkaJarsProbe => ({ kind: 'missing', problem: errorText(error) })),
    probes.docker().catch((error: unknown): DockerProbe => ({ ok: false, endpoint: 'docker', reason: errorText(error) })),
    probes.diskFree(input.dir).then(
      (bytes) => ({ ok: true as const, bytes }),
      (error: unknown) => ({ ok: false as const, error }),
    ),
    probes.which('kcat').then((path) => path ?? probes.which('kafkacat')),
    probes.msctlPorts().catch(() => new Set<number>()),
    Promise.all(input.ports.map((p) => probes.portFree(p.port).catch(() => false))),
  ]);

  // Without Docker the local runtime is the only one, and it needs Java and the Kafka jars.
  const localOnly = !docker.ok;
  const localNeed = localOnly ? 'fail' : 'warn';
  const orDocker = localOnly ? '' : ' (or use `--runtime docker`: Docker answers)';

  if (java.ok) {
    checks.push({ name: 'java', status: 'ok', detail: `Java ${java.value.version} (${java.value.path})` });
  } else {
    checks.push({
      name: 'java',
      status: localNeed,
      detail: `${errorText(java.error)} The local runtime runs Kafka on Java 17+.`,
      fix: (isMsctlError(java.error) && java.error.hint) || `install Java 17 or newer (Debian/Ubuntu: \`apt-get install -y openjdk-17-jre-headless\`) or set JAVA_HOME${orDocker}`,
    });
  }

  switch (jars.kind) {
    case 'kafka-home':
      checks.push({ name: 'kafka jars', status: 'ok', detail: `${jars.jars} jars from KAFKA_HOME (${jars.dir})` });
      break;
    case 'cached':
      checks.push({ name: 'kafka jars', status: 'ok', detail: `cached in ${jars.dir}` });
      break;
    case 'maven-local':
      checks.push({ name: 'kafka jars', status: 'ok', detail: `in the local Maven repository (${jars.dir}); copied to the cache on first up` });
      break;
    case 'mvn':
      checks.push({ name: 'kafka jars', status: 'ok', detail: `not cached yet; Maven (${jars.path}) fetches them once on first up` });
      break;
    case 'missing':
      checks.push({
        name: 'kafka jars',
        status: localNeed,
        detail: jars.problem ?? 'the Kafka broker jars are not cached, and neither Maven nor KAFKA_HOME can provide them',
        fix: `install Maven (Debian/Ubuntu: \`apt-get install -y maven\`) so msctl fetches the jars once, or set KAFKA_HOME to an unpacked Apache Kafka distribution${orDocker}`,
      });
      break;
  }

  checks.push(
    docker.ok
      ? { name: 'docker', status: 'ok', detail: `daemon answers on ${docker.endpoint}` }
      : {
          name: 'docker',
          status: 'warn',
          detail: `no Docker daemon on ${docker.endpoint} (${docker.reason}); the local runtime needs none`,
          fix: 'optional, for `--runtime docker`: install Docker (Debian/Ubuntu: `apt-get install -y docker.io`) and start the daemon, or set DOCKER_HOST',
        },
  );

  input.ports.forEach((p, i) => {
    const name = `port ${p.port}`;
    if (portsFree[i]) {
      checks.push({ name, status: 'ok', detail: `free (${p.what})` });
    } else if (msctlPorts.has(p.port)) {
      checks.push({ name, status: 'ok', detail: `ok, held by this stack (${p.what})` });
    } else {
      checks.push({
        name,
        status: 'fail',
        detail: `in use by another program; ${p.what} needs it`,
        fix: `stop what listens on it (\`ss -ltnp 'sport = :${p.port}'\` shows it)${p.env ? `, or move ${p.what} with ${p.env}=<port>` : ''}`,
      });
    }
  });

  if (disk.ok) {
    checks.push(
      disk.bytes >= minDisk
        ? { name: 'disk', status: 'ok', detail: `${formatBytes(disk.bytes)} free in ${input.dir}` }
        : {
            name: 'disk',
            status: 'warn',
            detail: `only ${formatBytes(disk.bytes)} free in ${input.dir} (Kafka and PostgreSQL want ${formatBytes(minDisk)})`,
            fix: 'free some disk space (msctl keeps its data under .msctl/; `msctl down -v` deletes it)',
          },
    );
  } else {
    checks.push({ name: 'disk', status: 'warn', detail: `cannot tell the free space in ${input.dir}: ${errorText(disk.error)}`, fix: 'check that the folder exists and is readable' });
  }

  checks.push(
    kcat
      ? { name: 'kcat', status: 'ok', detail: kcat }
      : { name: 'kcat', status: 'warn', detail: 'not installed (optional: inspect topics by hand)', fix: 'Debian/Ubuntu: `apt-get install -y kcat`' },
  );

  return { checks, ok: checks.every((check) => check.status !== 'fail') };
}

// ---------------------------------------------------------------- the real probes

/** Where the Docker Engine API is: DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock. */
export function dockerEndpoint(env: NodeJS.ProcessEnv): { socketPath: string } | { host: string; port: number } {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host?.startsWith('tcp://') || host?.startsWith('http://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return { host: url.hostname, port: Number(url.port || 2375) };
  }
  return { socketPath: '/var/run/docker.sock' };
}

/** GET /_ping on the Docker Engine API with node:http. */
export function pingDocker(env: NodeJS.ProcessEnv = process.env, timeoutMs = 2_000): Promise<DockerProbe> {
  const target = dockerEndpoint(env);
  const endpoint = 'socketPath' in target ? target.socketPath : `${target.host}:${target.port}`;
  if ('socketPath' in target && !existsSync(target.socketPath)) return Promise.resolve({ ok: false, endpoint, reason: 'no such socket' });
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve(res.statusCode === 200 ? { ok: true, endpoint } : { ok: false, endpoint, reason: `HTTP ${res.statusCode}: ${body.trim().slice(0, 100)}` }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ ok: false, endpoint, reason: error.message }));
    req.end();
  });
}

/** Every port number listed in a state file, wherever it sits (keys named port/…Port/ports). */
/**
 * The ports a running stack holds, from its status: the broker's and its controller's while kafka
 * runs, PostgreSQL's while it runs, each running service's. The controller's port is in no state
 * file, so without this a healthy stack's own controller looked like a stranger's.
 */
export function stackPorts(status: StackStatus, infra: InfrastructureSettings): Set<number> {
  const held = new Map<string, number[]>([
    ['kafka', [infra.kafkaPort, infra.kafkaControllerPort]],
    ['postgres', [infra.postgresPort]],
  ]);
  return new Set(
    status.targets
      .filter((target) => target.state !== 'stopped')
      .flatMap((target) => [...(held.get(target.name) ?? []), ...(target.port === null ? [] : [target.port])]),
  );
}

export function portsInState(state: unknown): Set<number> {
  const ports = new Set<number>();
  const visit = (value: unknown, key: string) => {
    const isPortKey = /port/i.test(key);
    if (typeof value === 'number' && isPortKey && Number.isInteger(value) && value > 0 && value < 65536) ports.add(value);
    else if (Array.isArray(value)) for (const item of value) visit(item, key);
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) visit(v, k);
  };
  visit(state, '');
  return ports;
}

export async function which(command: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const file = join(dir, command);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface SystemProbeOptions {
  env?: NodeJS.ProcessEnv;
  /** `.msctl/state.json` of the project, when there is one. */
  stateFile?: string;
  /** The ports the project's running stack holds, as its runtime reports them (see stackPorts). */
  stackPorts?: () => Promise<Set<number>>;
}

/** The real probes. Java and the Kafka jar lock are loaded only when asked. */
export function systemProbes(options: SystemProbeOptions = {}): DoctorProbes {
  const env = options.env ?? process.env;
  return {
    nodeVersion: () => process.versions.node,
    java: async () => (await import('../infra/java')).findJava(env),
    kafkaJars: async () => {
      const { KAFKA_JAR_LOCK, defaultCacheRoot, kafkaJarCacheDir } = await import('../infra/kafka/jars');
      if (env.KAFKA_HOME) {
        const libs = join(env.KAFKA_HOME, 'libs');
        const jars = (await readdir(libs).catch(() => [] as string[])).filter((f) => f.endsWith('.jar'));
        if (jars.length > 0) return { kind: 'kafka-home', dir: libs, jars: jars.length };
        return { kind: 'missing', problem: `KAFKA_HOME is set to ${env.KAFKA_HOME} but ${libs} holds no jars` };
      }
      const cache = kafkaJarCacheDir(defaultCacheRoot(env), KAFKA_JAR_LOCK.kafkaVersion);
      if (KAFKA_JAR_LOCK.jars.every((jar) => existsSync(join(cache, basename(jar.path))))) return { kind: 'cached', dir: cache };
      const m2 = join(env.HOME ?? homedir(), '.m2', 'repository');
      if (KAFKA_JAR_LOCK.jars.every((jar) => existsSync(join(m2, jar.path)))) return { kind: 'maven-local', dir: m2 };
      const mvn = await which('mvn', env);
      return mvn ? { kind: 'mvn', path: mvn } : { kind: 'missing' };
    },
    docker: () => pingDocker(env),
    portFree: async (port) => (await import('../infra/ports')).isPortFree(port),
    msctlPorts: async () => {
      const [fromState, fromStatus] = await Promise.all([
        options.stateFile ? readFile(options.stateFile, 'utf8').then((text) => portsInState(JSON.parse(text))).catch(() => new Set<number>()) : new Set<number>(),
        options.stackPorts ? options.stackPorts().catch(() => new Set<number>()) : new Set<number>(),
      ]);
      return new Set([...fromState, ...fromStatus]);
    },
    diskFree: async (dir) => {
      const info = await statfs(dir);
      return Number(info.bavail) * Number(info.bsize);
    },
    which: (command) => which(command, env),
  };
}
