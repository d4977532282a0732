/**
 * vitest globalSetup: the CLI and service bundles built from the sources as they are now (so
 * that `npx vitest run` after an edit never runs old code), and ONE real Kafka broker and ONE
 * real PostgreSQL per test run, on free ports, with their data in a fresh temp dir. Never
 * skips: when any of them cannot be had, the run fails with the reason and the hint.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { isMsctlError } from '../../src/core/errors';
import { startKafka, type KafkaBroker } from '../../src/infra/kafka/broker';
import { startPostgres, type PostgresServer } from '../../src/infra/postgres/server';
import { findFreePort, isProcessAlive, terminatePid } from '../../src/infra/ports';
import './infra-env';

const repoRoot = join(import.meta.dirname, '..', '..');

/** The tests of the CLI and of whole stacks run dist/ and services/*\/dist/: build them first. */
async function buildBundles(): Promise<void> {
  try {
    await promisify(execFile)(process.execPath, [join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`the bundles could not be built for the tests:\n${stderr || stdout || String(error)}\nhint: fix the error, or run \`npm run build\` to see it alone`);
  }
}

const describeError = (what: string, error: unknown): Error => {
  if (isMsctlError(error)) {
    return new Error(`${what} could not start for the tests [${error.code}]: ${error.message}${error.hint ? `\nhint: ${error.hint}` : ''}`, { cause: error });
  }
  return new Error(`${what} could not start for the tests: ${String(error)}`, { cause: error });
};

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const root = await mkdtemp(join(tmpdir(), 'msctl-test-'));
  await chmod(root, 0o755); // PostgreSQL runs as `postgres` when we are root: it must traverse root
  let kafka: KafkaBroker | undefined;
  let postgres: PostgresServer | undefined;
  let tornDown: Promise<void> | undefined;

  const teardown = (): Promise<void> =>
    (tornDown ??= (async () => {
      await Promise.allSettled([kafka?.stop(), postgres?.stop()]);
      await Promise.allSettled(strayServerPids(root).map((pid) => terminatePid(pid, 'SIGTERM', 10_000)));
      await rm(root, { recursive: true, force: true });
    })());

  // Last resort when the process exits without teardown (e.g. an uncaught error).
  const onExit = () => {
    for (const pid of [kafka?.pid, postgres?.pid, ...strayServerPids(root)]) {
      if (pid) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(root, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void teardown().finally(() => {
      process.off('exit', onExit);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', onExit);

  const [kafkaPort, controllerPort, pgPort] = await distinctFreePorts(3);
  const started = Date.now();
  const bundles = buildBundles();
  const results = await Promise.allSettled([
    startKafka({ dataDir: join(root, 'kafka'), port: kafkaPort, controllerPort, heapMb: 512, logFile: join(root, 'kafka.log') }).then((k) => {
      kafka = k;
      process.stderr.write(`[infra] Kafka ${k.bootstrap} up in ${((Date.now() - started) / 1000).toFixed(1)} s (log ${k.logFile})\n`);
      return k;
    }),
    startPostgres({ dataDir: join(root, 'pg', 'data'), port: pgPort, user: 'msctl', password: randomBytes(18).toString('base64url') }).then((p) => {
      postgres = p;
      process.stderr.write(`[infra] PostgreSQL 127.0.0.1:${p.port} up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return p;
    }),
  ]);
  const built = await bundles.then(
    () => undefined,
    (error: unknown) => error as Error,
  );
  const failures = results.flatMap((r, i) => (r.status === 'rejected' ? [describeError(i === 0 ? 'Kafka' : 'PostgreSQL', r.reason)] : []));
  if (built) failures.push(built);
  if (failures.length > 0 || !kafka || !postgres) {
    await teardown();
    process.off('exit', onExit);
    throw failures.length === 1 ? failures[0] : new AggregateError(failures, failures.map((f) => f.message).join('\n\n'));
  }

  project.provide('kafkaBootstrap', kafka.bootstrap);
  project.provide('infraTempDir', root);
  project.provide('postgresUrl', postgres.url);

  return async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await teardown();
    process.off('exit', onExit);
  };
}

async function distinctFreePorts(n: number): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await findFreePort());
  return [...ports] as [number, number, number];
}

/**
 * Servers that tests started themselves (e.g. detached ones) under the run's temp dir:
 * every kafka.pid / postmaster.pid below root whose process is still alive. Stopped on
 * teardown, so an interrupted test leaves nothing running.
 */
function strayServerPids(root: string): number[] {
  let files: string[];
  try {
    files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('kafka.pid') || f.endsWith('postmaster.pid'));
  } catch {
    return [];
  }
  return files.flatMap((f) => {
    try {
      const pid = Number.parseInt(readFileSync(join(root, f), 'utf8').split('\n')[0] ?? '', 10);
      return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? [pid] : [];
    } catch {
      return [];
    }
  });
}
