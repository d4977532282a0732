/**
 * The docker runtime: the same observe → plan → execute as the local one, through the Engine
 * API. Containers restart on their own when they crash (restart policy); a small detached
 * watcher brings back a container stopped behind msctl's back (`docker kill`), which Docker's
 * restart policies deliberately leave alone, and counts it.
 */
import { summarizeHealth, type HealthDocument, type HealthSummary } from '../health';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type Dockerode from 'dockerode';
import { MsctlError } from '../../core/errors';
import type { ProgressSink, TargetPhase } from '../../core/events';
import { createStackTopics } from '../../infra/kafka/client';
import { findFreePort, isPortFree, terminatePid } from '../../infra/ports';
import type { ObservedTarget, UpPlan } from '../../stack/plan';
import { ensureStateDir, manifestOf, type Project } from '../../stack/project';
import { provisionStackRoles } from '../../stack/database-roles';
import { ensureSecrets } from '../../stack/secrets';
import type { StackStatus, TargetStatus } from '../local/status';
import { postgresUrl } from '../local/supervisor';
import { isOurProcess } from '../processes';
import { connectDocker, type Docker } from './engine';
import { ensureKafkaImage, ensureNodeBase, ensurePostgresImage, ensureServiceImage, LABEL, type InfrastructureImage } from './images';
import { COMPOSE, TARGET_LABEL, createOptions, kafkaSpec, networkName, postgresSpec, serviceSpec, stackVolumes, type ContainerSpec, type TraceTarget } from './spec';
import { stackTopics } from '../../stack/manifest';
import { desiredReplicas, instanceIndex, instanceName, serviceOfInstance } from '../../stack/replicas';

interface DockerState {
  clusterId: string;
  /** Where containers send their spans: msctl's trace receiver, run by the watcher on the network's gateway address. */
  otlp?: { host: string; port: number };
  /** Restarts the watcher made (containers stopped behind msctl's back), by target. */
  restarts: Record<string, number>;
}

const stateFile = (project: Project) => join(project.stateDir, 'docker.json');
const watcherPidFile = (project: Pick<Project, 'stateDir'>) => join(project.stateDir, 'docker-watcher.pid');

export async function readDockerState(project: Project): Promise<DockerState> {
  try {
    const parsed = JSON.parse(await readFile(stateFile(project), 'utf8')) as Partial<DockerState>;
    return { clusterId: parsed.clusterId ?? '', restarts: parsed.restarts ?? {}, ...(parsed.otlp ? { otlp: parsed.otlp } : {}) };
  } catch {
    return { clusterId: '', restarts: {} };
  }
}

export async function writeDockerState(project: Project, state: DockerState): Promise<void> {
  ensureStateDir(project.stateDir);
  const temporary = `${stateFile(project)}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`);
  await (await import('node:fs/promises')).rename(temporary, stateFile(project));
}

const projectFilter = (project: Project) => ({ label: [`${COMPOSE}.project=${project.name}`] });

/** The part of the stack a container runs: "users", "users#2", "kafka". */
export const targetOf = (info: { Labels: Record<string, string> }): string | undefined => info.Labels[TARGET_LABEL] ?? info.Labels[`${COMPOSE}.service`];

export async function listContainers(docker: Docker, project: Project): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: projectFilter(project) });
}

function phaseOf(info: Pick<Dockerode.ContainerInfo, 'State' | 'Status'>): TargetPhase {
  if (info.State === 'restarting') return 'restarting';
  if (info.State !== 'running') return info.State === 'created' ? 'starting' : 'stopped';
  if (info.Status.includes('(healthy)')) return 'healthy';
  if (info.Status.includes('(unhealthy)')) return 'unhealthy';
  if (info.Status.includes('health: starting')) return 'starting';
  return 'running';
}

export async function observeDocker(docker: Docker, project: Project): Promise<Map<string, ObservedTarget>> {
  const observed = new Map<string, ObservedTarget>();
  const containers = await listContainers(docker, project);
  for (const info of containers) {
    const target = targetOf(info);
    if (target) observed.set(target, { name: target, phase: phaseOf(info) });
  }
  // The plan keeps whatever is alive; a container whose definition changed must not be kept, or
  // `up` would never re-create it. Not alive, the plan starts it and startContainer re-creates it.
  for (const service of await outdatedServices(docker, project, containers)) observed.set(service, { name: service, phase: 'planned' });
  return observed;
}

/**
 * The services (and infrastructure) with a container that differs from the one `up` would create
 * now: a changed manifest, replica count, port or secret gives another config-hash. The image is
 * the container's own, so that observing never builds or pulls one.
 */
async function outdatedServices(docker: Docker, project: Project, containers: Dockerode.ContainerInfo[]): Promise<Set<string>> {
  const outdated = new Set<string>();
  if (containers.length === 0) return outdated;
  const secrets = await ensureSecrets(project.stateDir);
  const state = await readDockerState(project);
  const replicas = desiredReplicas(project);
  const otlp = otlpEndpointOf(state);
  await Promise.all(
    containers.map(async (info) => {
      const target = targetOf(info);
      if (!target) return;
      const service = serviceOfInstance(target);
      const inspect = await docker.getContainer(info.Id).inspect().catch(() => undefined);
      if (!inspect) return;
      const image: InfrastructureImage = { tag: inspect.Config.Image, source: inspect.Config.Labels[`${LABEL}.image-source`] === 'official' ? 'official' : 'local' };
      const manifest = manifestOf(project, service);
      let spec: ContainerSpec | undefined;
      if (service === 'kafka') spec = kafkaSpec(project, image, state.clusterId);
      else if (service === 'postgres') spec = postgresSpec(project, image, secrets);
      // A surplus instance is scale's to remove, not up's to re-create.
      else if (manifest && instanceIndex(target) <= replicas[service]!) spec = serviceSpec(project, manifest, image.tag, secrets, instanceIndex(target), replicas, otlp);
      if (spec && inspect.Config.Labels[`${COMPOSE}.config-hash`] !== spec.labels[`${COMPOSE}.config-hash`]) outdated.add(service);
    }),
  );
  return outdated;
}

async function ensureNetwork(docker: Docker, project: Project): Promise<string> {
  const name = networkName(project.name);
  const existing = await docker.listNetworks({ filters: { name: [name] } });
  if (!existing.some((network) => network.Name === name)) {
    await docker.createNetwork({
      Name: name,
      Driver: 'bridge',
      Labels: { [`${COMPOSE}.project`]: project.name, [`${COMPOSE}.network`]: 'default', [`${LABEL}.project`]: project.name },
    });
  }
  return name;
}

async function ensureVolumes(docker: Docker, project: Project): Promise<void> {
  const existing = new Set(((await docker.listVolumes({ filters: projectFilter(project) })).Volumes ?? []).map((volume) => volume.Name));
  for (const volume of stackVolumes(project)) {
    if (!existing.has(volume.name)) await docker.createVolume({ Name: volume.name, Labels: volume.labels });
  }
}

async function lastLogLines(docker: Docker, name: string, lines = 10): Promise<string[]> {
  try {
    const buffer = (await docker.getContainer(name).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxBuffer(buffer);
  } catch {
    return [];
  }
}

/** Docker multiplexes stdout and stderr with 8-byte frame headers when there is no TTY. */
export function demuxBuffer(buffer: Buffer): string[] {
  const lines: string[] = [];
  let offset = 0;
  let text = '';
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  if (offset === 0) text = buffer.toString('utf8');
  for (const line of text.split('\n')) if (line.trim()) lines.push(line);
  return lines;
}

async function waitHealthy(docker: Docker, spec: ContainerSpec, timeoutMs: number, sink: ProgressSink): Promise<void> {
  const container = docker.getContainer(spec.name);
  const deadline = Date.now() + timeoutMs;
  let lastOutput = '';
  for (;;) {
    const info = await container.inspect();
    const health = info.State.Health;
    if (health?.Status === 'healthy') return;
    lastOutput = health?.Log?.at(-1)?.Output?.trim() ?? lastOutput;
    if (!info.State.Running && !info.State.Restarting && info.State.Status === 'exited' && Date.now() > deadline - timeoutMs + 2_000 && info.RestartCount > 3) {
      break;
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const lines = await lastLogLines(docker, spec.name);
  const message = `${spec.target} did not become healthy within ${Math.round(timeoutMs / 1000)} s${lastOutput ? `; last health check: ${lastOutput.slice(0, 200)}` : ''}`;
  sink.emit({ type: 'target', target: spec.target, phase: 'failed', detail: message });
  throw new MsctlError('UNHEALTHY', message, `${lines.length ? `its last log lines:\n${lines.map((line) => `    ${line}`).join('\n')}\n` : ''}full log: msctl logs ${spec.target}`);
}

/** Creates (or re-creates, when its definition changed) and starts one container, then waits for its health. */
async function startContainer(docker: Docker, spec: ContainerSpec, network: string, timeoutMs: number, sink: ProgressSink): Promise<void> {
  const current = await docker.getContainer(spec.name).inspect().catch(() => undefined);
  for (const [containerPort, hostPort] of Object.entries(spec.ports)) {
    // A container of ours that already exists holds its own port.
    if (current) continue;
    if (!(await isPortFree(hostPort))) {
      const message = `port ${hostPort} for ${spec.target} is taken by another process`;
      sink.emit({ type: 'target', target: spec.target, phase: 'failed', detail: message });
      throw new MsctlError('PORT_IN_USE', message, `stop what listens there (ss -ltnp 'sport = :${hostPort}'), or change the port (container port ${containerPort})`);
    }
  }
  const existing = await docker.getContainer(spec.name).inspect().catch(() => undefined);
  if (existing && existing.Config.Labels[`${COMPOSE}.config-hash`] !== spec.labels[`${COMPOSE}.config-hash`]) {
    sink.emit({ type: 'target', target: spec.target, phase: 'stopping', detail: 'its definition changed: re-creating' });
    await docker.getContainer(spec.name).remove({ force: true });
  }
  if (!existing || existing.Config.Labels[`${COMPOSE}.config-hash`] !== spec.labels[`${COMPOSE}.config-hash`]) {
    await docker.createContainer(createOptions(spec, network) as Dockerode.ContainerCreateOptions);
  }
  sink.emit({ type: 'target', target: spec.target, phase: 'starting', detail: `${spec.name} (${spec.image})` });
  const container = docker.getContainer(spec.name);
  const state = await container.inspect();
  if (!state.State.Running) await container.start();
  await waitHealthy(docker, spec, timeoutMs, sink);
}

export interface DockerUpOptions {
  timeoutSeconds: number;
  offline: boolean;
}

export async function upDocker(project: Project, plan: UpPlan, options: DockerUpOptions, sink: ProgressSink): Promise<void> {
  const docker = await connectDocker();
  ensureStateDir(project.stateDir);
  const secrets = await ensureSecrets(project.stateDir);
  const state = await readDockerState(project);
  if (!state.clusterId) {
    state.clusterId = randomBytes(16).toString('base64url').replace(/^-/, 'A');
    await writeDockerState(project, state);
  }
  const replicas = desiredReplicas(project);
  const network = await ensureNetwork(docker, project);
  const otlpEndpoint = await traceEndpoint(docker, project, network, state);
  const toStart = new Set(plan.steps.filter((step) => step.action === 'start').map((step) => step.target));
  const specs = new Map<string, ContainerSpec>();
  // Images first: a build failure stops before anything starts.
  if (toStart.has('kafka')) specs.set('kafka', kafkaSpec(project, await ensureKafkaImage(docker, options.offline, sink), state.clusterId));
  if (toStart.has('postgres')) specs.set('postgres', postgresSpec(project, await ensurePostgresImage(docker, options.offline, sink), secrets));
  const services = project.manifests.filter((manifest) => toStart.has(manifest.name));
  if (services.length > 0) {
    const base = await ensureNodeBase(docker, sink);
    for (const manifest of services) {
      const image = await ensureServiceImage(docker, project.name, manifest, base, sink);
      for (let instance = 1; instance <= replicas[manifest.name]!; instance++) {
        specs.set(instanceName(manifest.name, instance), serviceSpec(project, manifest, image, secrets, instance, replicas, otlpEndpoint));
      }
    }
  }
  await ensureVolumes(docker, project);
  await writeFile(join(project.stateDir, 'runtime'), 'docker\n');
  // The watcher also runs the trace receiver: it must listen before the services send spans.
  await ensureWatcher(project);
  const levels = new Map<number, string[]>();
  for (const step of plan.steps) {
    const instances = [...specs.keys()].filter((target) => serviceOfInstance(target) === step.target);
    if (instances.length > 0) levels.set(step.level, [...(levels.get(step.level) ?? []), ...instances]);
  }
  // Through the port published on 127.0.0.1, once PostgreSQL is healthy (started now or before)
  // and before the first service that connects to it.
  let databaseRoles: Promise<void> | undefined;
  const provisionRoles = () => (databaseRoles ??= provisionStackRoles(project, secrets, postgresUrl(project, secrets)));
  for (const level of [...levels.keys()].sort((a, b) => a - b)) {
    await Promise.all(
      levels.get(level)!.map(async (target) => {
        const spec = specs.get(target)!;
        const manifest = manifestOf(project, serviceOfInstance(target));
        const timeoutMs = (manifest?.startTimeoutSeconds ?? options.timeoutSeconds) * 1000;
        if (manifest?.needs.includes('postgres')) {
          await provisionRoles().catch((error: unknown) => {
            sink.emit({ type: 'target', target, phase: 'failed', detail: (error as Error).message.split('\n')[0] });
            throw error;
          });
        }
        await startContainer(docker, spec, network, timeoutMs, sink);
        if (target === 'kafka') {
          const topics = stackTopics(project.manifests, 3, replicas);
          sink.emit({ type: 'target', target, phase: 'waiting', detail: `creating ${topics.length} topics through 127.0.0.1:${project.infrastructure.kafkaPort}` });
          await createStackTopics(`127.0.0.1:${project.infrastructure.kafkaPort}`, topics);
        }
        sink.emit({ type: 'target', target, phase: 'healthy', detail: Object.values(spec.ports).map((port) => `127.0.0.1:${port}`).join(', ') || spec.name });
      }),
    );
  }
}

/**
 * Runs `service` as `count` containers: new instances start (health-gated), surplus ones are
 * removed (highest first); a consumer's topics grow to enough partitions; the gateway is
 * re-created with the new instance list when the service has routes.
 */
export async function scaleDocker(project: Project, service: string, count: number, timeoutSeconds: number, sink: ProgressSink): Promise<void> {
  const docker = await connectDocker();
  const manifest = manifestOf(project, service)!;
  const containers = await listContainers(docker, project);
  const running = containers.filter((info) => serviceOfInstance(targetOf(info) ?? '') === service);
  if (running.length === 0) throw new MsctlError('NOT_RUNNING', `${service} is not running`, `start it with \`msctl up ${service}\`; the new count is kept for it`);
  const replicas = { ...desiredReplicas(project), [service]: count };
  const secrets = await ensureSecrets(project.stateDir);
  const network = networkName(project.name);
  if (manifest.consumes.length > 0) await createStackTopics(`127.0.0.1:${project.infrastructure.kafkaPort}`, stackTopics(project.manifests, 3, replicas));
  const image = running[0]!.Image;
  await Promise.all(
    Array.from({ length: count }, (_, i) => i + 1)
      .filter((instance) => !running.some((info) => targetOf(info) === instanceName(service, instance)))
      .map(async (instance) => {
        const spec = serviceSpec(project, manifest, image, secrets, instance, replicas, await traceEndpoint(docker, project, network, await readDockerState(project)));
        await startContainer(docker, spec, network, timeoutSeconds * 1000, sink);
        sink.emit({ type: 'target', target: spec.target, phase: 'healthy', detail: spec.name });
      }),
  );
  for (const info of running.filter((info) => instanceIndex(targetOf(info)!) > count)) {
    sink.emit({ type: 'target', target: targetOf(info)!, phase: 'stopping' });
    await docker.getContainer(info.Id).stop({ t: 15 }).catch(() => undefined);
    await docker.getContainer(info.Id).remove({ force: true });
    sink.emit({ type: 'target', target: targetOf(info)!, phase: 'stopped' });
  }
  if (manifest.routes.length > 0) {
    for (const gateway of project.manifests.filter((m) => m.gateway)) {
      for (const info of containers.filter((c) => serviceOfInstance(targetOf(c) ?? '') === gateway.name)) {
        const instance = instanceIndex(targetOf(info)!);
        // The gateway's routing table names every instance: its definition changed, so it is re-created.
        await startContainer(docker, serviceSpec(project, gateway, info.Image, secrets, instance, replicas, await traceEndpoint(docker, project, network, await readDockerState(project))), network, timeoutSeconds * 1000, sink);
        sink.emit({ type: 'target', target: targetOf(info)!, phase: 'healthy', detail: 'routes to every instance' });
      }
    }
  }
}

/**
 * The address msctl's receiver listens on for a stack: the host side of the stack network's
 * bridge (its IPv4 gateway), which the stack's containers reach and nothing outside this machine
 * does. Never a guess: 172.17.0.1 would be docker0, the default bridge every other container
 * shares.
 */
export function receiverHost(network: string, inspect: { IPAM?: { Config?: Array<{ Gateway?: string }> } }): string {
  const gateway = (inspect.IPAM?.Config ?? []).map((config) => config.Gateway).find((address) => address !== undefined && isIPv4(address));
  if (!gateway) {
    throw new MsctlError('DOCKER_UNAVAILABLE', `the docker network ${network} has no IPv4 gateway for msctl's trace receiver`, `remove it (docker network rm ${network}) and run msctl up again, or name your own collector with OTEL_EXPORTER_OTLP_ENDPOINT`);
  }
  return gateway;
}

/**
 * Where containers send spans: the user's collector (OTEL_EXPORTER_OTLP_ENDPOINT), else msctl's
 * receiver, which the watcher runs on the stack network's gateway address (receiverHost). Its
 * port is chosen once per stack.
 */
async function traceEndpoint(docker: Docker, project: Project, network: string, state: DockerState): Promise<TraceTarget> {
  const collector = userCollector();
  if (collector) return collector;
  const host = receiverHost(network, (await docker.getNetwork(network).inspect()) as Parameters<typeof receiverHost>[1]);
  if (state.otlp?.host !== host) {
    state.otlp = { host, port: state.otlp?.port ?? (await findFreePort()) };
    await writeDockerState(project, state);
  }
  return otlpEndpointOf(state)!;
}

/** The collector the user named, which gets the spans instead of msctl's receiver, and no stack token. */
function userCollector(): TraceTarget | undefined {
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return endpoint ? { endpoint, external: true } : undefined;
}

/** The endpoint traceEndpoint gave the running containers, without choosing or writing one. */
function otlpEndpointOf(state: DockerState): TraceTarget | undefined {
  return userCollector() ?? (state.otlp ? { endpoint: `http://${state.otlp.host}:${state.otlp.port}`, external: false } : undefined);
}

const WATCHER_SCRIPT = 'docker-watcher.js';

function watcherScript(): string {
  return join(dirname(fileURLToPath(import.meta.url)), WATCHER_SCRIPT);
}

type WatcherProject = Pick<Project, 'root' | 'stateDir'>;

/**
 * The watcher's pid, when the pid file names a process that is this stack's watcher. After a
 * reboot the file outlives the watcher, and its pid may have gone to any other process.
 */
async function readWatcherPid(project: WatcherProject): Promise<{ pid: number; ours: boolean } | undefined> {
  const pid = Number((await readFile(watcherPidFile(project), 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return { pid, ours: isOurProcess(pid, `${WATCHER_SCRIPT} ${project.root}`) };
}

/** Starts the watcher that restarts containers stopped behind msctl's back (once per stack). */
export async function ensureWatcher(project: Project): Promise<void> {
  if ((await readWatcherPid(project))?.ours) return;
  const script = watcherScript();
  if (!existsSync(script)) throw new MsctlError('INTERNAL', `msctl is not built: ${script} is missing`, 'run `npm run build`');
  await mkdir(join(project.stateDir, 'logs'), { recursive: true });
  const out = openSync(join(project.stateDir, 'logs', 'docker-watcher.log'), 'a');
  const child = spawn(process.execPath, ['--disable-warning=TimeoutNegativeWarning', script, project.root], { detached: true, stdio: ['ignore', out, out], env: process.env });
  closeSync(out);
  child.unref();
  await writeFile(watcherPidFile(project), `${child.pid}\n`);
}

/**
 * Stops this stack's watcher and removes its pid file. A pid file naming some other process
 * (stale: the machine restarted since) is removed without signalling anyone.
 */
export async function stopWatcher(project: WatcherProject): Promise<{ state: 'stopped' | 'stale' | 'none'; pid?: number }> {
  const watcher = await readWatcherPid(project);
  if (watcher?.ours) await terminatePid(watcher.pid, 'SIGTERM', 5_000);
  await rm(watcherPidFile(project), { force: true });
  if (!watcher) return { state: 'none' };
  return { state: watcher.ours ? 'stopped' : 'stale', pid: watcher.pid };
}

export async function downDocker(project: Project, options: { volumes: boolean }, sink: ProgressSink): Promise<{ stopped: string[]; dataRemoved: boolean }> {
  const docker = await connectDocker();
  const watcher = await stopWatcher(project);
  if (watcher.state === 'stale') {
    sink.emit({ type: 'message', level: 'warn', text: `the watcher's pid file named process ${watcher.pid}, which is not msctl's docker watcher (the machine restarted since?); removed it without signalling that process` });
  }
  const containers = await listContainers(docker, project);
  const byTarget = new Map(containers.map((info) => [targetOf(info) ?? info.Names[0] ?? info.Id, info]));
  const stopped = containers.filter((info) => info.State === 'running' || info.State === 'restarting').map((info) => targetOf(info) ?? info.Id);
  const names = [...byTarget.keys()];
  const known = new Set(names.map(serviceOfInstance).filter((name) => project.graph.names.includes(name)));
  const unknown = names.filter((name) => !known.has(serviceOfInstance(name)));
  const remove = async (target: string) => {
    const info = byTarget.get(target)!;
    sink.emit({ type: 'target', target, phase: 'stopping' });
    const container = docker.getContainer(info.Id);
    await container.stop({ t: 15 }).catch(() => undefined);
    await container.remove({ force: true });
    sink.emit({ type: 'target', target, phase: 'stopped' });
  };
  await Promise.all(unknown.map(remove));
  for (const level of project.graph.levels(known).reverse()) await Promise.all(names.filter((name) => level.includes(serviceOfInstance(name))).map(remove));
  for (const network of await docker.listNetworks({ filters: projectFilter(project) })) await docker.getNetwork(network.Id).remove().catch(() => undefined);
  if (options.volumes) {
    for (const volume of (await docker.listVolumes({ filters: projectFilter(project) })).Volumes ?? []) await docker.getVolume(volume.Name).remove();
    await rm(stateFile(project), { force: true });
  } else {
    const state = await readDockerState(project);
    if (state.clusterId) await writeDockerState(project, { ...state, restarts: {} });
  }
  await rm(join(project.stateDir, 'runtime'), { force: true });
  return { stopped, dataRemoved: options.volumes };
}

export async function restartDocker(project: Project, target: string, timeoutSeconds: number, sink: ProgressSink): Promise<void> {
  const docker = await connectDocker();
  const info = (await listContainers(docker, project)).find((container) => targetOf(container) === target);
  if (info?.State !== 'running') throw new MsctlError('NOT_RUNNING', `${target} is not running`, `start it with \`msctl up ${target}\``);
  sink.emit({ type: 'target', target, phase: 'restarting' });
  await docker.getContainer(info.Id).restart({ t: 15 });
  const state = await readDockerState(project);
  state.restarts[target] = (state.restarts[target] ?? 0) + 1;
  await writeDockerState(project, state);
  const spec = { target, name: info.Names[0]!.replace(/^\//, '') } as ContainerSpec;
  await waitHealthy(docker, spec, timeoutSeconds * 1000, sink);
  sink.emit({ type: 'target', target, phase: 'healthy' });
}

async function serviceHealth(port: number, path: string): Promise<HealthSummary> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1_500) });
    return summarizeHealth((await response.json()) as HealthDocument);
  } catch {
    return { status: 'fail', checks: {}, circuits: {}, problems: {} };
  }
}

export async function dockerStatus(project: Project, now: () => number = Date.now): Promise<StackStatus> {
  const docker = await connectDocker();
  const containers = await listContainers(docker, project);
  const state = await readDockerState(project);
  const watcher = await readWatcherPid(project);
  const order = project.graph.startOrder().flatMap((name) => {
    const instances = containers.map((info) => targetOf(info) ?? '').filter((target) => serviceOfInstance(target) === name);
    return instances.length > 0 ? instances.sort((a, b) => instanceIndex(a) - instanceIndex(b)) : [name];
  });
  const targets = await Promise.all(
    order.map(async (name): Promise<TargetStatus> => {
      const info = containers.find((container) => targetOf(container) === name);
      if (!info) {
        return { name, kind: project.graph.node(serviceOfInstance(name)).kind, state: 'stopped', health: 'unknown', pid: null, port: null, uptimeSeconds: null, restarts: 0, lastExit: null, checks: {}, circuits: {}, problems: {}, detail: null };
      }
      const inspect = await docker.getContainer(info.Id).inspect();
      const phase = phaseOf(info);
      const manifest = manifestOf(project, serviceOfInstance(name));
      const port = info.Ports.find((p) => p.IP === '127.0.0.1')?.PublicPort ?? null;
      const live = manifest && inspect.State.Running && port ? await serviceHealth(port, manifest.healthPath) : undefined;
      return {
        name,
        kind: project.graph.node(serviceOfInstance(name)).kind,
        state: phase,
        health: live?.status ?? (inspect.State.Health?.Status === 'healthy' ? 'pass' : inspect.State.Running ? 'unknown' : 'fail'),
        pid: inspect.State.Running ? inspect.State.Pid : null,
        port,
        uptimeSeconds: inspect.State.Running ? Math.max(0, Math.round((now() - Date.parse(inspect.State.StartedAt)) / 1000)) : null,
        restarts: inspect.RestartCount + (state.restarts[name] ?? 0),
        // Docker keeps the exit code of a stopped container only; a signal shows as 128 + its number.
        lastExit: !inspect.State.Running && !inspect.State.FinishedAt.startsWith('0001-') ? { code: inspect.State.ExitCode, signal: null, at: inspect.State.FinishedAt } : null,
        checks: live?.checks ?? {},
        circuits: live?.circuits ?? {},
        problems: live?.problems ?? {},
        detail: `${inspect.Name.replace(/^\//, '')} ${inspect.Config.Image}`,
      };
    }),
  );
  const services = targets.filter((target) => target.kind === 'service');
  return {
    runtime: 'docker',
    project: project.root,
    supervisor: { state: watcher?.ours ? 'running' : containers.length > 0 ? 'stale' : 'none', pid: watcher?.ours ? watcher.pid : null },
    healthy: services.length > 0 && services.every((target) => target.state === 'healthy'),
    targets,
  };
}

/** Follows every container's output (demultiplexed) until the signal aborts. */
export async function followDockerLogs(project: Project, onLine: (target: string, line: string) => void, signal: AbortSignal, options: { tail?: number; since?: Date; follow: boolean; targets?: string[] }): Promise<void> {
  const docker = await connectDocker();
  const containers = (await listContainers(docker, project)).filter((info) => !options.targets || options.targets.includes(targetOf(info) ?? ''));
  await Promise.all(
    containers.map(async (info) => {
      const target = targetOf(info) ?? info.Id;
      const container = docker.getContainer(info.Id);
      const logOptions = { stdout: true, stderr: true, timestamps: false, ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}) };
      if (!options.follow) {
        const buffer = (await container.logs({ ...logOptions, follow: false as const })) as unknown as Buffer;
        for (const line of demuxBuffer(buffer)) onLine(target, line);
        return;
      }
      const stream = (await container.logs({ ...logOptions, follow: true as const })) as unknown as NodeJS.ReadableStream & { destroy(): void };
      const out = new PassThrough();
      docker.modem.demuxStream(stream, out, out);
      createInterface({ input: out }).on('line', (line) => onLine(target, line));
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          stream.destroy();
          resolve();
        }, { once: true });
        stream.on('end', () => resolve());
      });
    }),
  );
}
