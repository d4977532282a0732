/**
 * A real Apache Kafka broker (KRaft combined mode: broker + controller in one JVM),
 * run from the locked jars on the local Java runtime.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { brokerIsReady } from './client';
import { MsctlError } from '../../core/errors';
import { runToEnd, type RunError } from '../../core/exec';
import { findJava } from '../java';
import { assertPortFree, isProcessAlive, terminatePid } from '../ports';
import { ensureKafkaJars, type KafkaJarsProgress } from './jars';
import { sleep } from '../../core/sleep';

export interface KafkaProgress {
  step: 'jars' | 'format' | 'start' | 'ready';
  message: string;
  jars?: KafkaJarsProgress;
}

export interface StartKafkaOptions {
  /** Holds server.properties, log4j2.properties, kafka.pid and logs/ (the data). */
  dataDir: string;
  /** PLAINTEXT listener on 127.0.0.1. */
  port: number;
  /** CONTROLLER listener on 127.0.0.1. */
  controllerPort: number;
  /** Host put in advertised.listeners; default 127.0.0.1. */
  advertisedHost?: string;
  /** JVM heap (-Xmx / -Xms); default 512. */
  heapMb?: number;
  /** Broker log (log4j2 and the JVM's stdout/stderr); default <dataDir>/kafka.log. */
  logFile?: string;
  /** msctl cache root for the jars (see ensureKafkaJars). */
  cacheDir?: string;
  /** Run in its own session and outlive the caller; pid goes to <dataDir>/kafka.pid. */
  detached?: boolean;
  /** How long to wait for the broker to serve requests; default 60 s. */
  timeoutMs?: number;
  onProgress?: (event: KafkaProgress) => void;
}

export interface KafkaBroker {
  bootstrap: string;
  pid: number;
  logFile: string;
  /** SIGTERM, wait up to ~20 s for a clean exit, then SIGKILL. */
  stop(): Promise<void>;
}

/** A cluster id as Kafka's Uuid.randomUuid() makes it: 16 random bytes, base64url, no padding. */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function serverProperties(o: { dataDir: string; port: number; controllerPort: number; advertisedHost?: string }): string {
  const advertised = o.advertisedHost ?? '127.0.0.1';
  return [
    '# written by msctl',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${o.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${advertised}:${o.port},CONTROLLER://127.0.0.1:${o.controllerPort}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${join(o.dataDir, 'logs')}`,
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'num.partitions=3',
    '',
  ].join('\n');
}

function log4j2Properties(logFile: string): string {
  return [
    'status = error',
    'name = msctl-kafka',
    'appender.file.type = File',
    'appender.file.name = FILE',
    `appender.file.fileName = ${logFile.replaceAll('\\', '/')}`,
    'appender.file.append = true',
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'rootLogger.level = INFO',
    'rootLogger.appenderRef.file.ref = FILE',
    'logger.kafka.name = kafka',
    'logger.kafka.level = INFO',
    'logger.state.name = state.change.logger',
    'logger.state.level = WARN',
    'logger.request.name = kafka.request.logger',
    'logger.request.level = WARN',
    '',
  ].join('\n');
}

export function tailFile(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The broker's heap starts small and gives back what a load run made it take: a G1 cycle at
 * least every 30 s when idle, and the heap shrunk to keep 10–30 % free. A broker for one
 * developer's stack lives in 100–200 MB of heap; -Xms256m kept it near 400 MB RSS from the start.
 */
export const KAFKA_HEAP_SHAPE = ['-Xms64m', '-XX:G1PeriodicGCInterval=30000', '-XX:MinHeapFreeRatio=10', '-XX:MaxHeapFreeRatio=30'];

const START_HINT =
  'Look at the broker log for the cause. A corrupt or foreign data directory can be removed to start fresh; ' +
  'a port conflict shows as "Address already in use".';

export async function startKafka(options: StartKafkaOptions): Promise<KafkaBroker> {
  const { dataDir, port, controllerPort } = options;
  const logFile = options.logFile ?? join(dataDir, 'kafka.log');
  const progress = options.onProgress ?? (() => {});
  const timeoutMs = options.timeoutMs ?? 60_000;
  const heapMb = options.heapMb ?? 512;

  await assertPortFree(port, 'Kafka broker');
  await assertPortFree(controllerPort, 'Kafka controller');
  const java = await findJava();
  const jars = await ensureKafkaJars({
    ...(options.cacheDir ? { cacheDir: options.cacheDir } : {}),
    onProgress: (e) => progress({ step: 'jars', message: e.message, jars: e }),
  });
  const cp = jars.classpath.join(':');

  await mkdir(join(dataDir, 'logs'), { recursive: true });
  const propsFile = join(dataDir, 'server.properties');
  const log4jFile = join(dataDir, 'log4j2.properties');
  await writeFile(propsFile, serverProperties({ dataDir, port, controllerPort, ...(options.advertisedHost ? { advertisedHost: options.advertisedHost } : {}) }));
  await writeFile(log4jFile, log4j2Properties(logFile));
  const jvmLogArgs = [`-Dlog4j2.configurationFile=${log4jFile}`, `-Dkafka.logs.dir=${dataDir}`];

  if (!existsSync(join(dataDir, 'logs', 'meta.properties'))) {
    const clusterId = randomClusterId();
    progress({ step: 'format', message: `formatting Kafka storage (cluster ${clusterId})` });
    try {
      await runToEnd(java.path, ['-Xmx256m', ...jvmLogArgs, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, '--standalone'], {
        timeoutMs: 120_000,
      });
    } catch (error) {
      const all = (error as RunError).output || String(error);
      throw new MsctlError('KAFKA_START_FAILED', `Formatting the Kafka storage in ${dataDir} failed:\n${all.trim().split('\n').slice(-20).join('\n')}`, START_HINT, {
        cause: error,
      });
    }
  }

  progress({ step: 'start', message: `starting Kafka broker on 127.0.0.1:${port}` });
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      java.path,
      [`-Xmx${heapMb}m`, ...KAFKA_HEAP_SHAPE, '-XX:+UseG1GC', '-Djava.awt.headless=true', ...jvmLogArgs, '-cp', cp, 'kafka.Kafka', propsFile],
      { cwd: dataDir, detached: options.detached ?? false, stdio: ['ignore', logFd, logFd] },
    );
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) {
    throw new MsctlError('KAFKA_START_FAILED', `Could not start \`${java.path}\` for the Kafka broker.`, START_HINT);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    }),
  );
  child.once('error', () => {}); // spawn errors surface as exit / missing pid
  if (options.detached) child.unref();
  await writeFile(join(dataDir, 'kafka.pid'), `${pid}\n`);

  const bootstrap = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (exited) return;
    if (!isProcessAlive(pid)) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exitPromise;
    clearTimeout(timer);
    await rm(join(dataDir, 'kafka.pid'), { force: true });
  };

  try {
    await waitForBroker(bootstrap, timeoutMs, () => exited);
  } catch (error) {
    await stop().catch(() => {});
    const reason = exited
      ? `The Kafka broker exited early (code ${exited.code ?? 'null'}, signal ${exited.signal ?? 'none'})`
      : `The Kafka broker did not serve requests on ${bootstrap} within ${Math.round(timeoutMs / 1000)} s`;
    throw new MsctlError('KAFKA_START_FAILED', `${reason}. Last lines of ${logFile}:\n${tailFile(logFile, 20)}`, START_HINT, { cause: error });
  }
  progress({ step: 'ready', message: `Kafka broker ready on ${bootstrap}` });
  return { bootstrap, pid, logFile, stop };
}

/** Polls with a kafkajs admin until describeCluster succeeds. */
export async function waitForBroker(bootstrap: string, timeoutMs: number, exitedEarly: () => unknown = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exitedEarly()) throw new Error('process exited');
    try {
      if (await brokerIsReady(bootstrap)) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(200);
  }
  throw lastError instanceof Error ? lastError : new Error('timeout');
}

/** Stops a (detached) broker by pid: SIGTERM, up to timeoutMs, then SIGKILL. */
export async function stopKafkaByPid(pid: number, timeoutMs = 20_000): Promise<void> {
  await terminatePid(pid, 'SIGTERM', timeoutMs);
}

/** Pid from <dataDir>/kafka.pid when that process still runs. */
export async function readKafkaPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt(await readFile(join(dataDir, 'kafka.pid'), 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}
