/**
 * Entry point of the detached supervisor process: `node supervisor.js <project-root>`.
 * Serves the control channel on .msctl/supervisor.sock until `down`.
 */
import { createServer, type ServerResponse } from 'node:http';
import { chmodSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isMsctlError } from '../../core/errors';
import { startKafka } from '../../infra/kafka/broker';
import { startPostgres } from '../../infra/postgres/server';
import { ensureStateDir, loadProject } from '../../stack/project';
import { provisionStackRoles } from '../../stack/database-roles';
import { ensureSecrets } from '../../stack/secrets';
import { kafkaBootstrap, superuserUrl } from '../../stack/endpoints';
import { createStackTopics } from '../../infra/kafka/client';
import { keepAliveGet } from '../../core/http';
import { summarizeHealth } from '../health';
import { DEFAULT_TIMEOUT_SECONDS } from '../runtime';
import type { HealthDocument } from '../types';
import { EventHistory, SUBSCRIBED } from './control';
import { SUPERVISOR_IDLE_RELEASE } from './node-flags';
import { controlRequestSchemas, readControlRequest } from './requests';
import { socketPath } from './state';
import { Supervisor, type HealthAnswer } from './supervisor';
import { startTraceReceiver } from '../../traces/receiver';
import { releaseMemoryWhenIdle } from '../../../services/kit/src/memory';
import { sleep } from '../../core/sleep';

const healthGet = keepAliveGet();

async function fetchHealth(url: string): Promise<HealthAnswer> {
  const response = await healthGet(url, { signal: AbortSignal.timeout(2_000) });
  let body: HealthDocument;
  try {
    body = JSON.parse(await response.text()) as HealthDocument;
  } catch {
    body = {} as HealthDocument;
  }
  return { httpStatus: response.status, ...summarizeHealth(body) };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function main(): Promise<void> {
  const root = process.argv[2];
  if (!root) throw new Error('usage: supervisor <project-root>');
  const project = await loadProject(root);
  ensureStateDir(project.stateDir);
  const requests = controlRequestSchemas(project);
  const secrets = await ensureSecrets(project.stateDir);
  await mkdir(join(project.stateDir, 'logs'), { recursive: true });
  const socket = socketPath(project.stateDir);
  await rm(socket, { force: true });
  // msctl's OTLP receiver keeps recent spans in .msctl/traces for `msctl traces`; a collector
  // named by OTEL_EXPORTER_OTLP_ENDPOINT (Jaeger, Tempo…) takes them instead.
  const userCollector = process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const traceReceiver = userCollector ? undefined : await startTraceReceiver({ dir: join(project.stateDir, 'traces'), token: secrets.otlpToken });

  const supervisor = new Supervisor(
    project,
    secrets,
    {
      startKafka: (p, logFile) =>
        startKafka({ dataDir: join(p.stateDir, 'data', 'kafka'), port: p.infrastructure.kafkaPort, controllerPort: p.infrastructure.kafkaControllerPort, logFile }),
      startPostgres: (p, s, logFile) =>
        startPostgres({ dataDir: join(p.stateDir, 'data', 'postgres', 'data'), port: p.infrastructure.postgresPort, user: p.infrastructure.postgresUser, password: s.postgresPassword, logFile }),
      provisionDatabaseRoles: (p, s) => provisionStackRoles(p, s, superuserUrl(p, s)),
      createTopics: (p, topics) => createStackTopics(kafkaBootstrap(p), topics),
      fetchHealth,
      nodePath: process.execPath,
      now: () => Date.now(),
      otlpEndpoint: userCollector || traceReceiver?.url,
      // The stack's token is for msctl's receiver, never sent to a collector the user named.
      otlpIsExternal: Boolean(userCollector),
    },
    socket,
  );
  supervisor.start();
  const history = new EventHistory();
  supervisor.bus.subscribe((event) => history.record(event));
  // After a load run the supervisor, too, holds what it grew to while relaying logs and spans;
  // and after an operation (starting a stack mostly waits, so the loop never looks busy).
  const memory = releaseMemoryWhenIdle({ policy: SUPERVISOR_IDLE_RELEASE });
  let operations = 0;

  const runOperation = (response: ServerResponse, name: string, work: () => Promise<void>, after?: () => Promise<void>) => {
    const operation = `${name}-${++operations}`;
    send(response, 202, { operation });
    void supervisor
      .enqueue(work)
      .then(
        () => supervisor.bus.emit({ type: 'done', ok: true, text: `${name} finished`, operation }),
        (error: unknown) => {
          const hint = isMsctlError(error) && error.hint ? `\nhint: ${error.hint}` : '';
          supervisor.bus.emit({ type: 'done', ok: false, text: `${(error as Error).message}${hint}`, operation });
        },
      )
      .then(() => {
        memory.spell();
        return after?.();
      });
  };

  const shutdown = async () => {
    await supervisor.down();
    await supervisor.removeState();
    await traceReceiver?.close(); // after the services flushed their last spans
  };

  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://supervisor');
      try {
        if (request.method === 'GET' && url.pathname === '/ping') return send(response, 200, { ok: true, pid: process.pid });
        if (request.method === 'GET' && url.pathname === '/state') return send(response, 200, supervisor.snapshot());
        if (request.method === 'GET' && url.pathname === '/events') {
          const withLogs = url.searchParams.get('logs') === '1';
          const after = Number(url.searchParams.get('after') ?? Number.NaN);
          response.writeHead(200, { 'content-type': 'application/x-ndjson' });
          response.write(`${JSON.stringify({ type: 'message', level: 'info', text: SUBSCRIBED, at: new Date().toISOString() })}\n`);
          const unsubscribe = history.follow(Number.isInteger(after) ? after : undefined, ({ seq, event }) => {
            if (event.type === 'log' && !withLogs) return;
            response.write(`${JSON.stringify({ ...event, seq })}\n`);
          });
          request.on('close', unsubscribe);
          return;
        }
        if (request.method === 'POST' && url.pathname === '/up') {
          const body = await readControlRequest(request, requests, 'up');
          return runOperation(response, 'up', () => supervisor.up(body.plan, body.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS, body.replicas ?? {}));
        }
        if (request.method === 'POST' && url.pathname === '/restart') {
          const body = await readControlRequest(request, requests, 'restart');
          return runOperation(response, 'restart', () => supervisor.restart(body.target, body.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS));
        }
        if (request.method === 'POST' && url.pathname === '/hold') {
          const body = await readControlRequest(request, requests, 'hold');
          return runOperation(response, 'hold', () => supervisor.hold(body.target));
        }
        if (request.method === 'POST' && url.pathname === '/resume') {
          const body = await readControlRequest(request, requests, 'resume');
          return runOperation(response, 'resume', () => supervisor.resume(body.target, body.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS));
        }
        if (request.method === 'POST' && url.pathname === '/down') {
          return runOperation(response, 'down', shutdown, async () => {
            // Let the last events reach the clients, then go.
            await sleep(200);
            server.close();
            await rm(socket, { force: true });
            process.exit(0);
          });
        }
        send(response, 404, { error: `no ${request.method} ${url.pathname}` });
      } catch (error) {
        send(response, isMsctlError(error) && error.code === 'USAGE' ? 400 : 500, { error: (error as Error).message });
      }
    })();
  });
  // Only this user may drive the stack: .msctl/ is closed already, the socket is 0600 as well.
  server.listen(socket, () => chmodSync(socket, 0o600));

  const onSignal = () => {
    void supervisor.enqueue(shutdown).finally(async () => {
      server.close();
      await rm(socket, { force: true });
      process.exit(0);
    });
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.stdout.write(`supervisor ${process.pid} for ${project.root} listening on ${socket}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`supervisor failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
