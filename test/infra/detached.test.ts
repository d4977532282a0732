/**
 * `msctl up -d` needs Kafka and PostgreSQL to outlive the process that started them, and a
 * later process to stop them by pid / data dir. A bundled script starts both detached and
 * exits; this test then uses and stops them, and restarts both on the same data (persistence).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readKafkaPid, startKafka, stopKafkaByPid } from '../../src/infra/kafka/broker';
import { readPostgresPid, startPostgres, stopPostgresByDataDir } from '../../src/infra/postgres/server';
import { findFreePort, isPortFree, isProcessAlive } from '../../src/infra/ports';

const root = resolve(import.meta.dirname, '../..');

describe('detached infrastructure', () => {
  let dir: string;
  let script: string;
  const pids: number[] = [];

  beforeAll(async () => {
    // under the run's temp dir: global teardown stops these servers even if this worker dies
    dir = await mkdtemp(join(inject('infraTempDir'), 'detached-'));
    await chmod(dir, 0o755); // PostgreSQL runs as `postgres` when we are root
    // bundled next to node_modules so the bare imports resolve
    const outDir = join(root, 'node_modules', '.cache', 'msctl-tests');
    await mkdir(outDir, { recursive: true });
    script = join(outDir, `start-detached-${process.pid}.mjs`);
    await build({
      stdin: {
        contents: `
          import { startKafka } from './src/infra/kafka/broker';
          import { startPostgres } from './src/infra/postgres/server';
          const [dir, kp, cp, pp] = process.argv.slice(2);
          const [k, p] = await Promise.all([
            startKafka({ dataDir: dir + '/kafka', port: +kp, controllerPort: +cp, detached: true }),
            startPostgres({ dataDir: dir + '/pg/data', port: +pp, user: 'u', password: 'p', detached: true }),
          ]);
          console.log(JSON.stringify({ kafkaPid: k.pid, pgPid: p.pid, url: p.url, bootstrap: k.bootstrap }));`,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      packages: 'external',
      outfile: script,
      logLevel: 'silent',
    });
  });

  afterAll(async () => {
    for (const pid of pids) if (isProcessAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
    await rm(script, { force: true });
  });

  it('outlive the process that started them, stop by pid, and keep their data', async () => {
    const [kafkaPort, controllerPort, pgPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
    const out = execFileSync(process.execPath, [script, dir, String(kafkaPort), String(controllerPort), String(pgPort)], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    const started = JSON.parse(out.trim().split('\n').pop()!) as { kafkaPid: number; pgPid: number; url: string; bootstrap: string };
    pids.push(started.kafkaPid, started.pgPid);

    // the starter has exited; both servers still run and serve
    expect(isProcessAlive(started.kafkaPid)).toBe(true);
    expect(isProcessAlive(started.pgPid)).toBe(true);
    expect(await readKafkaPid(join(dir, 'kafka'))).toBe(started.kafkaPid);
    expect(readPostgresPid(join(dir, 'pg', 'data'))).toBe(started.pgPid);

    const client = new pg.Client({ connectionString: started.url });
    await client.connect();
    await client.query('CREATE TABLE kept (v text)');
    await client.query("INSERT INTO kept VALUES ('still here')");
    await client.end();

    const kafka = new Kafka({ brokers: [started.bootstrap], logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'kept-topic', numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();

    // stopped from "another process" (by pid / data dir)
    await stopKafkaByPid(started.kafkaPid);
    expect(await stopPostgresByDataDir(join(dir, 'pg', 'data'))).toBe(true);
    expect(isProcessAlive(started.kafkaPid)).toBe(false);
    expect(isProcessAlive(started.pgPid)).toBe(false);
    expect(await isPortFree(kafkaPort)).toBe(true);
    expect(await isPortFree(pgPort)).toBe(true);
    expect(existsSync(join(dir, 'pg', 'data', 'postmaster.pid'))).toBe(false);

    // restart (attached) on the same data: nothing re-initialised, data still there
    const [k, p] = await Promise.all([
      startKafka({ dataDir: join(dir, 'kafka'), port: kafkaPort, controllerPort }),
      startPostgres({ dataDir: join(dir, 'pg', 'data'), port: pgPort, user: 'u', password: 'p' }),
    ]);
    try {
      const again = new pg.Client({ connectionString: p.url });
      await again.connect();
      const { rows } = await again.query<{ v: string }>('SELECT v FROM kept');
      await again.end();
      expect(rows).toEqual([{ v: 'still here' }]);
      const admin2 = new Kafka({ brokers: [k.bootstrap], logLevel: logLevel.NOTHING }).admin();
      await admin2.connect();
      expect(await admin2.listTopics()).toContain('kept-topic');
      await admin2.disconnect();
    } finally {
      await Promise.all([k.stop(), p.stop()]);
    }
    expect(isProcessAlive(k.pid)).toBe(false);
    expect(isProcessAlive(p.pid)).toBe(false);
    expect(await isPortFree(kafkaPort)).toBe(true);
    expect(await isPortFree(controllerPort)).toBe(true);
    expect(await isPortFree(pgPort)).toBe(true);
  });
});
