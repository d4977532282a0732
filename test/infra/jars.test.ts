import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import { KAFKA_JAR_LOCK, ensureKafkaJars, kafkaJarCacheDir, type KafkaJarLock } from '../../src/infra/kafka/jars';

const sha1 = (data: string) => createHash('sha1').update(data).digest('hex');

describe('ensureKafkaJars', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'msctl-jars-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  // A tiny fake lock, with a fake local Maven repository holding its jar.
  const fakeLock: KafkaJarLock = {
    kafkaVersion: '0.0.0-test',
    jars: [{ coordinates: 'org.example:thing:1.0', path: 'org/example/thing/1.0/thing-1.0.jar', sha1: sha1('the real jar') }],
  };
  const writeM2Jar = async (m2: string, content: string) => {
    const file = join(m2, fakeLock.jars[0]!.path);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, content);
  };

  it('honours KAFKA_HOME (the libs/*.jar of a distribution)', async () => {
    const home = join(dir, 'kafka_2.13-4.3.1');
    await mkdir(join(home, 'libs'), { recursive: true });
    await writeFile(join(home, 'libs', 'kafka-clients-4.3.1.jar'), 'x');
    await writeFile(join(home, 'libs', 'kafka_2.13-4.3.1.jar'), 'y');
    await writeFile(join(home, 'libs', 'README'), 'not a jar');
    const previous = process.env.KAFKA_HOME;
    process.env.KAFKA_HOME = home;
    try {
      const jars = await ensureKafkaJars({ cacheDir: join(dir, 'cache') });
      expect(jars.source).toBe('kafka-home');
      expect(jars.classpath).toEqual([join(home, 'libs', 'kafka-clients-4.3.1.jar'), join(home, 'libs', 'kafka_2.13-4.3.1.jar')]);
      expect(existsSync(join(dir, 'cache'))).toBe(false);
    } finally {
      if (previous === undefined) delete process.env.KAFKA_HOME;
      else process.env.KAFKA_HOME = previous;
    }
  });

  it('rejects a KAFKA_HOME without jars', async () => {
    await expect(ensureKafkaJars({ kafkaHome: dir, cacheDir: join(dir, 'cache') })).rejects.toMatchObject({ code: 'KAFKA_JARS_UNAVAILABLE' });
  });

  it('does not trust a cache with a corrupted jar, and repairs it from the local Maven repository', async () => {
    const m2 = join(dir, 'm2');
    await writeM2Jar(m2, 'the real jar');
    const cacheRoot = join(dir, 'cache');
    const cached = kafkaJarCacheDir(cacheRoot, fakeLock.kafkaVersion);
    await mkdir(cached, { recursive: true });
    await writeFile(join(cached, 'thing-1.0.jar'), 'corrupted');

    const jars = await ensureKafkaJars({ lock: fakeLock, cacheDir: cacheRoot, mavenRepository: m2, kafkaHome: null, mvn: 'msctl-no-such-mvn' });
    expect(jars.source).toBe('maven-local');
    expect(jars.classpath).toEqual([join(cached, 'thing-1.0.jar')]);
    const again = await ensureKafkaJars({ lock: fakeLock, cacheDir: cacheRoot, mavenRepository: m2, kafkaHome: null, mvn: 'msctl-no-such-mvn' });
    expect(again.source).toBe('cache');
    // no temp dirs left next to the cache
    expect(await readdir(join(cacheRoot, 'kafka'))).toEqual([fakeLock.kafkaVersion]);
  });

  it('rejects a jar whose sha1 does not match, naming it, and leaves no cache behind', async () => {
    const m2 = join(dir, 'm2');
    await writeM2Jar(m2, 'tampered jar');
    const cacheRoot = join(dir, 'cache');
    const error = await ensureKafkaJars({ lock: fakeLock, cacheDir: cacheRoot, mavenRepository: m2, kafkaHome: null }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MsctlError);
    expect(error).toMatchObject({ code: 'KAFKA_JARS_UNAVAILABLE' });
    expect((error as Error).message).toContain('org.example:thing:1.0');
    expect((error as Error).message).toMatch(/SHA-1 mismatch/);
    expect(await readdir(join(cacheRoot, 'kafka'))).toEqual([]);
  });

  it('explains how to get the jars when Maven is missing', async () => {
    const error = await ensureKafkaJars({ lock: fakeLock, cacheDir: join(dir, 'cache'), mavenRepository: join(dir, 'empty-m2'), kafkaHome: null, mvn: 'msctl-no-such-mvn' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KAFKA_JARS_UNAVAILABLE' });
    expect((error as MsctlError).hint).toMatch(/apt-get install -y maven/);
    expect((error as MsctlError).hint).toMatch(/KAFKA_HOME/);
  });

  it('shows the end of what Maven printed when it fails', async () => {
    const mvn = join(dir, 'mvn');
    await writeFile(mvn, '#!/bin/sh\necho "[INFO] resolving" \necho "[ERROR] Could not resolve org.example:thing:1.0" >&2\nexit 1\n', { mode: 0o755 });
    const error = await ensureKafkaJars({ lock: fakeLock, cacheDir: join(dir, 'cache'), mavenRepository: join(dir, 'empty-m2'), kafkaHome: null, mvn }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KAFKA_JARS_UNAVAILABLE' });
    expect((error as MsctlError).message).toMatch(/Could not resolve org\.example:thing:1\.0/);
    expect((error as MsctlError).message).toMatch(/\[INFO\] resolving/);
    expect((error as MsctlError).hint).toMatch(/settings\.xml/);
  });

  it('resolves the real locked classpath (46 jars) for Kafka 4.3.1', async () => {
    const jars = await ensureKafkaJars({ kafkaHome: null });
    expect(KAFKA_JAR_LOCK.kafkaVersion).toBe('4.3.1');
    expect(jars.classpath).toHaveLength(KAFKA_JAR_LOCK.jars.length);
    expect(jars.classpath.every((p) => existsSync(p))).toBe(true);
    expect(jars.classpath.some((p) => p.endsWith('kafka_2.13-4.3.1.jar'))).toBe(true);
  });
});
