import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafka, type KafkaProgress } from '../../src/infra/kafka/broker';
import { startPostgres } from '../../src/infra/postgres/server';
import { findFreePort, isPortFree, waitForPortFree } from '../../src/infra/ports';
import { findJava, parseJavaVersion } from '../../src/infra/java';

describe('ports', () => {
  let server: Server;
  let busy: number;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'msctl-ports-test-'));
    busy = await findFreePort();
    server = createServer();
    await new Promise<void>((r) => server.listen(busy, '127.0.0.1', r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('tells free from used ports', async () => {
    expect(await isPortFree(busy)).toBe(false);
    expect(await isPortFree(await findFreePort())).toBe(true);
    expect(await waitForPortFree(busy, 300)).toBe(false);
  });

  it('picks free ports below the range the kernel gives outgoing connections, so that no client socket takes one first', async () => {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    const ports = await Promise.all(Array.from({ length: 20 }, () => findFreePort()));
    for (const port of ports) expect(port).toBeLessThan(low!);
    expect(new Set(ports).size).toBeGreaterThan(1);
  });

  // Fast means refused before any work: no initdb, no data directory, no server log.
  it('startPostgres on an occupied port fails fast with PORT_IN_USE', async () => {
    const error = await startPostgres({ dataDir: join(dir, 'pg'), port: busy, user: 'u', password: 'p' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PORT_IN_USE' });
    expect((error as Error).message).toContain(String(busy));
    expect(await readdir(dir)).toEqual([]);
  });

  it('startKafka on an occupied port (broker or controller) fails fast with PORT_IN_USE', async () => {
    const free = await findFreePort();
    for (const [port, controllerPort] of [
      [busy, free],
      [free, busy],
    ] as const) {
      const progress: KafkaProgress[] = [];
      const error = await startKafka({ dataDir: join(dir, 'kafka'), port, controllerPort, onProgress: (event) => progress.push(event) }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'PORT_IN_USE' });
      expect((error as Error).message).toContain(String(busy));
      // Fast means refused before any work: no jars fetched, no storage formatted, no JVM started.
      expect(progress).toEqual([]);
      expect(await readdir(dir)).toEqual([]);
    }
  });
});

describe('java', () => {
  it('parses java -version output', () => {
    expect(parseJavaVersion('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment')).toEqual({ version: '17.0.15', major: 17 });
    expect(parseJavaVersion('java version "1.8.0_402"')).toEqual({ version: '1.8.0_402', major: 8 });
    expect(parseJavaVersion('openjdk version "21" 2023-09-19')).toEqual({ version: '21', major: 21 });
  });

  it('finds this machine\'s Java >= 17', async () => {
    const java = await findJava();
    expect(java.major).toBeGreaterThanOrEqual(17);
  });

  it('reports JAVA_MISSING with an install hint when JAVA_HOME is wrong', async () => {
    const error = await findJava({ ...process.env, JAVA_HOME: '/nonexistent/jdk' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'JAVA_MISSING' });
    expect((error as { hint: string }).hint).toContain('apt-get install -y openjdk-17-jre-headless');
    expect((error as { hint: string }).hint).toContain('--runtime docker');
  });
});
