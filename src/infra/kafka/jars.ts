/**
 * The local Kafka broker's classpath: the exact jars listed in kafka-jars.lock.json
 * (regenerate with `npm run kafka:lock`), resolved once into a per-version cache.
 *
 * Order: $KAFKA_HOME/libs → verified cache → local Maven repository → Maven itself
 * (`mvn dependency:copy-dependencies` on a generated pom; Maven knows its repositories).
 * The cache is only ever created by renaming a fully verified temp directory, so an
 * interrupted resolution never leaves a half cache that looks complete.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { MsctlError } from '../../core/errors';
import { runToEnd, type RunError } from '../../core/exec';
import lockFile from './kafka-jars.lock.json' with { type: 'json' };

export interface LockedJar {
  /** group:artifact:version */
  coordinates: string;
  /** Path inside a Maven repository layout. */
  path: string;
  sha1: string;
}

export interface KafkaJarLock {
  kafkaVersion: string;
  jars: LockedJar[];
}

export const KAFKA_JAR_LOCK: KafkaJarLock = lockFile;
export const KAFKA_VERSION = KAFKA_JAR_LOCK.kafkaVersion;

export type KafkaJarsSource = 'kafka-home' | 'cache' | 'maven-local' | 'maven';

export interface KafkaJarsProgress {
  step: 'kafka-home' | 'cache-hit' | 'copy-local' | 'maven-resolve' | 'verify' | 'done';
  message: string;
}

export interface EnsureKafkaJarsOptions {
  /** msctl's cache root; default `${XDG_CACHE_HOME:-~/.cache}/msctl`. Jars go to `<cacheDir>/kafka/<version>/`. */
  cacheDir?: string;
  onProgress?: (event: KafkaJarsProgress) => void;
  /** Default: process.env.KAFKA_HOME. Pass null to ignore the environment. */
  kafkaHome?: string | null;
  /** Default: ~/.m2/repository. */
  mavenRepository?: string;
  /** Maven executable; default `mvn`. */
  mvn?: string;
  /** For tests: a different lock. */
  lock?: KafkaJarLock;
}

export interface KafkaJars {
  classpath: string[];
  source: KafkaJarsSource;
  /** Directory that holds the jars. */
  dir: string;
}

export function defaultCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'msctl');
}

export function kafkaJarCacheDir(cacheRoot = defaultCacheRoot(), version = KAFKA_VERSION): string {
  return join(cacheRoot, 'kafka', version);
}

export async function sha1File(file: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const jarFileName = (jar: LockedJar): string => basename(jar.path);

/** Every locked jar present in dir with the right sha1? (false when any is missing or differs) */
async function cacheIsComplete(dir: string, jars: LockedJar[]): Promise<boolean> {
  if (!existsSync(dir)) return false;
  const checks = await Promise.all(
    jars.map(async (jar) => {
      const file = join(dir, jarFileName(jar));
      return existsSync(file) && (await sha1File(file)) === jar.sha1;
    }),
  );
  return checks.every(Boolean);
}

async function verifyJar(file: string, jar: LockedJar, where: string): Promise<void> {
  if (!existsSync(file)) {
    throw new MsctlError('KAFKA_JARS_UNAVAILABLE', `Kafka jar ${jar.coordinates} is missing from ${where} (${file}).`, JARS_HINT);
  }
  const actual = await sha1File(file);
  if (actual !== jar.sha1) {
    throw new MsctlError(
      'KAFKA_JARS_UNAVAILABLE',
      `SHA-1 mismatch for Kafka jar ${jar.coordinates} (${file}): expected ${jar.sha1}, got ${actual}.`,
      `The file is corrupt or not the locked artifact: delete it and run again (${where}).`,
    );
  }
}

const JARS_HINT =
  'Install Maven (Debian/Ubuntu: `apt-get install -y maven`) so msctl can fetch the broker jars once, ' +
  `or set KAFKA_HOME to an unpacked Apache Kafka ${KAFKA_VERSION} distribution.`;

function pomFor(jars: LockedJar[]): string {
  const deps = jars
    .map((jar) => {
      const [groupId, artifactId, version] = jar.coordinates.split(':');
      return (
        `    <dependency><groupId>${groupId}</groupId><artifactId>${artifactId}</artifactId><version>${version}</version>` +
        `<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>`
      );
    })
    .join('\n');
  return `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>msctl</groupId><artifactId>kafka-jars</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
${deps}
  </dependencies>
</project>
`;
}

export async function ensureKafkaJars(options: EnsureKafkaJarsOptions = {}): Promise<KafkaJars> {
  const lock = options.lock ?? KAFKA_JAR_LOCK;
  const progress = options.onProgress ?? (() => {});

  // (a) KAFKA_HOME: a user-provided distribution wins; not checked against the lock.
  const kafkaHome = options.kafkaHome === undefined ? process.env.KAFKA_HOME : options.kafkaHome;
  if (kafkaHome) {
    const libs = join(kafkaHome, 'libs');
    const entries = existsSync(libs) ? (await readdir(libs)).filter((f) => f.endsWith('.jar')).sort() : [];
    if (entries.length === 0) {
      throw new MsctlError(
        'KAFKA_JARS_UNAVAILABLE',
        `KAFKA_HOME is set to ${kafkaHome} but ${libs} holds no jars.`,
        `Point KAFKA_HOME at an unpacked Apache Kafka ${lock.kafkaVersion} distribution, or unset it so msctl resolves the jars itself.`,
      );
    }
    progress({ step: 'kafka-home', message: `using ${entries.length} jars from ${libs}` });
    return { classpath: entries.map((f) => join(libs, f)), source: 'kafka-home', dir: libs };
  }

  // (b) verified cache
  const dir = kafkaJarCacheDir(options.cacheDir ?? defaultCacheRoot(), lock.kafkaVersion);
  const classpath = lock.jars.map((jar) => join(dir, jarFileName(jar)));
  if (await cacheIsComplete(dir, lock.jars)) {
    progress({ step: 'cache-hit', message: `Kafka ${lock.kafkaVersion} jars cached in ${dir}` });
    return { classpath, source: 'cache', dir };
  }

  await mkdir(dirname(dir), { recursive: true });
  const staging = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(staging, { recursive: true });
  try {
    // (c) local Maven repository
    const m2 = options.mavenRepository ?? join(homedir(), '.m2', 'repository');
    const missing: LockedJar[] = [];
    for (const jar of lock.jars) {
      const source = join(m2, jar.path);
      if (existsSync(source)) {
        const target = join(staging, jarFileName(jar));
        await copyFile(source, target);
        await verifyJar(target, jar, `the local Maven repository ${m2}`);
      } else {
        missing.push(jar);
      }
    }
    let source: KafkaJarsSource = 'maven-local';
    if (missing.length === 0) {
      progress({ step: 'copy-local', message: `copied ${lock.jars.length} jars from ${m2}` });
    } else {
      // (d) let Maven resolve what the local repository lacks
      source = 'maven';
      progress({ step: 'maven-resolve', message: `resolving ${missing.length} Kafka jars with Maven (once)` });
      const work = await mkdtemp(join(tmpdir(), 'msctl-kafka-pom-'));
      try {
        await writeFile(join(work, 'pom.xml'), pomFor(missing));
        const mvn = options.mvn ?? 'mvn';
        try {
          await runToEnd(mvn, ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`], { cwd: work });
        } catch (error) {
          const err = error as RunError;
          if (err.code === 'ENOENT') {
            throw new MsctlError(
              'KAFKA_JARS_UNAVAILABLE',
              `${missing.length} Kafka ${lock.kafkaVersion} jars are not cached and Maven (\`${mvn}\`) is not installed.`,
              JARS_HINT,
              { cause: error },
            );
          }
          const tail = err.output.trim().split('\n').slice(-15).join('\n');
          throw new MsctlError(
            'KAFKA_JARS_UNAVAILABLE',
            `Maven could not resolve the Kafka ${lock.kafkaVersion} jars: ${err.message.split('\n')[0]}\n${tail}`,
            `Check that Maven can reach its repositories (proxy settings in ~/.m2/settings.xml), or ${JARS_HINT.charAt(0).toLowerCase()}${JARS_HINT.slice(1)}`,
            { cause: error },
          );
        }
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
    progress({ step: 'verify', message: `verifying ${lock.jars.length} jars` });
    for (const jar of lock.jars) await verifyJar(join(staging, jarFileName(jar)), jar, source === 'maven' ? 'the Maven download' : 'the cache');
    // Publish atomically. Remove a stale/corrupt cache first; if another process won the
    // race and published a complete cache meanwhile, rename fails and we use theirs.
    if (existsSync(dir)) await rm(dir, { recursive: true, force: true });
    try {
      await rename(staging, dir);
    } catch (error) {
      if (!(await cacheIsComplete(dir, lock.jars))) throw error;
    }
    progress({ step: 'done', message: `Kafka ${lock.kafkaVersion} jars ready in ${dir}` });
    return { classpath, source, dir };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
