/**
 * Executes plans on the docker runtime: networks, volumes and images first, then each level's
 * containers together, each gated on its health check. What to start or re-create is the plan's
 * decision (observe marks a container whose definition changed), not this file's.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { MsctlError } from '../../core/errors';
import type { ProgressSink } from '../../core/events';
import { createStackTopics } from '../../infra/kafka/client';
import { isPortFree } from '../../infra/ports';
import { stepsToRun, type ObservedTarget, type UpPlan } from '../../stack/plan';
import { buildStale } from '../../stack/build';
import { ensureStateDir, manifestOf, type Project } from '../../stack/project';
import { provisionStackRoles } from '../../stack/database-roles';
import { ensureSecrets, type StackSecrets } from '../../stack/secrets';
import { gatewayRoutes, stackTopics, type ServiceManifest } from '../../stack/manifest';
import { desiredReplicas, instanceIndex, instanceName, instanceNames, serviceOfInstance } from '../../stack/replicas';
import { sendGatewayRoutes } from '../gateway-routes';
import { superuserUrl } from '../../stack/endpoints';
import { connectDocker, type Docker } from './engine';
import { bundleFiles, ensureKafkaImage, ensureNodeBase, ensurePostgresImage, ensureServiceImage, LABEL, type InfrastructureImage } from './images';
import { lastLogLines } from './logs';
import { COMPOSE, createOptions, instanceUrls, kafkaSpec, networkName, postgresSpec, serviceSpec, stackVolumes, type ContainerSpec } from './spec';
import { listContainers, otlpEndpointOf, phaseOf, projectFilter, readDockerState, stateFile, targetOf, traceEndpoint, writeDockerState } from './state';
import { ensureWatcher, stopWatcher } from './watcher';
import { sleep } from '../../core/sleep';

export async function observeDocker(docker: Docker, project: Project): Promise<Map<string, ObservedTarget>> {
  const observed = new Map<string, ObservedTarget>();
  const containers = await listContainers(docker, project);
  for (const info of containers) {
    const target = targetOf(info);
    if (target) observed.set(target, { name: target, phase: phaseOf(info) });
  }
  // A container whose definition changed must not be kept, or `up` would never re-create it:
  // the plan re-creates it, and says why.
  for (const service of await outdatedServices(docker, project, containers)) {
    observed.set(service, { name: service, phase: observed.get(service)?.phase ?? 'stopped', outdated: 'its definition changed (another config-hash): re-create the container' });
  }
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
    await sleep(250);
  }
  const lines = await lastLogLines(docker, spec.name);
  const message = `${spec.target} did not become healthy within ${Math.round(timeoutMs / 1000)} s${lastOutput ? `; last health check: ${lastOutput.slice(0, 200)}` : ''}`;
  sink.emit({ type: 'target', target: spec.target, phase: 'failed', detail: message });
  throw new MsctlError('UNHEALTHY', message, `${lines.length ? `its last log lines:\n${lines.map((line) => `    ${line}`).join('\n')}\n` : ''}full log: msctl logs ${spec.target}`);
}

/** Creates the container when there is none (re-creates it when told to), starts it, and waits for its health. */
async function startContainer(docker: Docker, spec: ContainerSpec, network: string, timeoutMs: number, sink: ProgressSink, recreate = false): Promise<void> {
  const existing = await docker.getContainer(spec.name).inspect().catch(() => undefined);
  for (const [containerPort, hostPort] of Object.entries(spec.ports)) {
    // A container of ours that already exists holds its own port.
    if (existing) continue;
    if (!(await isPortFree(hostPort))) {
      const message = `port ${hostPort} for ${spec.target} is taken by another process`;
      sink.emit({ type: 'target', target: spec.target, phase: 'failed', detail: message });
      throw new MsctlError('PORT_IN_USE', message, `stop what listens there (ss -ltnp 'sport = :${hostPort}'), or change the port (container port ${containerPort})`);
    }
  }
  if (existing && recreate) {
    sink.emit({ type: 'target', target: spec.target, phase: 'stopping', detail: 'its definition changed: re-creating' });
    await docker.getContainer(spec.name).remove({ force: true });
  }
  if (!existing || recreate) await docker.createContainer(createOptions(spec, network) as Dockerode.ContainerCreateOptions);
  sink.emit({ type: 'target', target: spec.target, phase: 'starting', detail: `${spec.name} (${spec.image})` });
  const container = docker.getContainer(spec.name);
  const state = await container.inspect();
  if (!state.State.Running) await container.start();
  await waitHealthy(docker, spec, timeoutMs, sink);
}

export interface DockerUpOptions {
  timeoutSeconds: number;
  offline: boolean;
  scriptsDir?: string;
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
  const toStart = new Set(stepsToRun(plan).map((step) => step.target));
  const toRecreate = new Set(plan.steps.filter((step) => step.action === 'recreate').map((step) => step.target));
  // A scale step starts only the instances it names; every other step runs all of them.
  const instancesOf = (service: string) => plan.steps.find((step) => step.target === service && step.action === 'scale')?.instances?.start ?? instanceNames(service, replicas[service]!);
  const specs = new Map<string, ContainerSpec>();
  // Images first: a build failure stops before anything starts.
  if (toStart.has('kafka')) specs.set('kafka', kafkaSpec(project, await ensureKafkaImage(docker, options.offline, sink), state.clusterId));
  if (toStart.has('postgres')) specs.set('postgres', postgresSpec(project, await ensurePostgresImage(docker, options.offline, sink), secrets));
  const services = project.manifests.filter((manifest) => toStart.has(manifest.name));
  if (services.length > 0) {
    const base = await ensureNodeBase(docker, sink);
    for (const manifest of services) {
      const image = await ensureServiceImage(docker, project.name, manifest, base, sink);
      for (const instance of instancesOf(manifest.name)) {
        specs.set(instance, serviceSpec(project, manifest, image, secrets, instanceIndex(instance), replicas, otlpEndpoint));
      }
    }
  }
  await ensureVolumes(docker, project);
  await writeFile(join(project.stateDir, 'runtime'), 'docker\n');
  // The watcher also runs the trace receiver: it must listen before the services send spans.
  await ensureWatcher(project, options.scriptsDir);
  const levels = new Map<number, string[]>();
  for (const step of plan.steps) {
    const instances = [...specs.keys()].filter((target) => serviceOfInstance(target) === step.target);
    if (instances.length > 0) levels.set(step.level, [...(levels.get(step.level) ?? []), ...instances]);
  }
  // Through the port published on 127.0.0.1, once PostgreSQL is healthy (started now or before)
  // and before the first service that connects to it.
  let databaseRoles: Promise<void> | undefined;
  const provisionRoles = () => (databaseRoles ??= provisionStackRoles(project, secrets, superuserUrl(project, secrets)));
  for (const level of [...new Set(plan.steps.map((step) => step.level))].sort((a, b) => a - b)) {
    const scaling = plan.steps.filter((step) => step.level === level && step.action === 'scale');
    // A consumer that grows needs a partition per instance, before its new instances join the group.
    if (scaling.some((step) => (step.instances?.start.length ?? 0) > 0 && (manifestOf(project, step.target)?.consumes.length ?? 0) > 0)) {
      await createStackTopics(`127.0.0.1:${project.infrastructure.kafkaPort}`, stackTopics(project.manifests, 3, replicas));
    }
    await Promise.all(
      (levels.get(level) ?? []).map(async (target) => {
        const spec = specs.get(target)!;
        const manifest = manifestOf(project, serviceOfInstance(target));
        const timeoutMs = (manifest?.startTimeoutSeconds ?? options.timeoutSeconds) * 1000;
        if (manifest?.needs.includes('postgres')) {
          await provisionRoles().catch((error: unknown) => {
            sink.emit({ type: 'target', target, phase: 'failed', detail: (error as Error).message.split('\n')[0] });
            throw error;
          });
        }
        await startContainer(docker, spec, network, timeoutMs, sink, toRecreate.has(serviceOfInstance(target)));
        if (target === 'kafka') {
          const topics = stackTopics(project.manifests, 3, replicas);
          sink.emit({ type: 'target', target, phase: 'waiting', detail: `creating ${topics.length} topics through 127.0.0.1:${project.infrastructure.kafkaPort}` });
          await createStackTopics(`127.0.0.1:${project.infrastructure.kafkaPort}`, topics);
        }
        sink.emit({ type: 'target', target, phase: 'healthy', detail: Object.values(spec.ports).map((port) => `127.0.0.1:${port}`).join(', ') || spec.name });
      }),
    );
    await removeInstances(docker, project, scaling.flatMap((step) => step.instances?.stop ?? []), sink);
  }
}

/** Stops and removes the given instances' containers, one after the other. */
async function removeInstances(docker: Docker, project: Project, targets: string[], sink: ProgressSink): Promise<void> {
  if (targets.length === 0) return;
  const containers = await listContainers(docker, project);
  for (const target of targets) {
    const info = containers.find((container) => targetOf(container) === target);
    if (!info) continue;
    sink.emit({ type: 'target', target, phase: 'stopping' });
    await docker.getContainer(info.Id).stop({ t: 15 }).catch(() => undefined);
    await docker.getContainer(info.Id).remove({ force: true });
    sink.emit({ type: 'target', target, phase: 'stopped' });
  }
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

/**
 * Restarts one container, gated on its health. A service whose code changed since its image was
 * built (sources newer than the bundle, or a bundle rebuilt since) runs the new code: a new image,
 * and a container created from it.
 */
export async function restartDocker(project: Project, target: string, timeoutSeconds: number, sink: ProgressSink, options: { bundleOnly: boolean } = { bundleOnly: false }): Promise<void> {
  const docker = await connectDocker();
  const containers = await listContainers(docker, project);
  const manifest = manifestOf(project, serviceOfInstance(target));
  if (manifest && !manifest.gateway && target === manifest.name) {
    // Every instance of the service, one after the other.
    const instances = containers.filter((container) => serviceOfInstance(targetOf(container) ?? '') === manifest.name && container.State === 'running');
    if (instances.length === 0) throw new MsctlError('NOT_RUNNING', `${target} is not running`, `start it with \`msctl up ${target}\``);
    for (const instance of instances) await replaceContainer(docker, project, instance, manifest, timeoutSeconds, sink, options);
    return;
  }
  const info = containers.find((container) => targetOf(container) === target);
  if (info?.State !== 'running') throw new MsctlError('NOT_RUNNING', `${target} is not running`, `start it with \`msctl up ${target}\``);
  if (manifest && !manifest.gateway) return replaceContainer(docker, project, info, manifest, timeoutSeconds, sink, options);
  let image = info.Image;
  if (manifest) {
    await buildStale([manifest], project.servicesDir, sink);
    image = await ensureServiceImage(docker, project.name, manifest, await ensureNodeBase(docker, sink), sink);
  }
  sink.emit({ type: 'target', target, phase: 'restarting', ...(image !== info.Image ? { detail: `new code: ${image}` } : {}) });
  const state = await readDockerState(project);
  state.restarts[target] = (state.restarts[target] ?? 0) + 1;
  await writeDockerState(project, state);
  const network = networkName(project.name);
  const spec = manifest && serviceSpec(project, manifest, image, await ensureSecrets(project.stateDir), instanceIndex(target), desiredReplicas(project), await traceEndpoint(docker, project, network, state));
  // New code, or another definition (an env override edited, a setting): a new container, as `up` would make.
  if (spec && (image !== info.Image || spec.labels[`${COMPOSE}.config-hash`] !== info.Labels[`${COMPOSE}.config-hash`])) {
    await docker.getContainer(info.Id).stop({ t: 15 }).catch(() => undefined);
    await startContainer(docker, spec, network, timeoutSeconds * 1000, sink, true);
  } else {
    await docker.getContainer(info.Id).restart({ t: 15 });
    await waitHealthy(docker, { target, name: info.Names[0]!.replace(/^\//, '') } as ContainerSpec, timeoutSeconds * 1000, sink);
  }
  sink.emit({ type: 'target', target, phase: 'healthy' });
}

/**
 * Blue-green for a container: a new one, from the new image (or, for `msctl dev`, the running
 * image with the new bundle copied in), beside the running one; once it is healthy the gateway
 * routes to it (and answers once the old one has answered what it had in flight), then the old
 * one stops (SIGTERM: it drains) and the new one takes its name. Its port on 127.0.0.1 is a new
 * one, since the old container held the service's own while both ran (`msctl status` shows it).
 */
async function replaceContainer(docker: Docker, project: Project, info: Dockerode.ContainerInfo, manifest: ServiceManifest, timeoutSeconds: number, sink: ProgressSink, options: { bundleOnly: boolean }): Promise<void> {
  const target = targetOf(info)!;
  await buildStale([manifest], project.servicesDir, sink);
  const image = options.bundleOnly ? info.Image : await ensureServiceImage(docker, project.name, manifest, await ensureNodeBase(docker, sink), sink);
  const network = networkName(project.name);
  const secrets = await ensureSecrets(project.stateDir);
  const state = await readDockerState(project);
  const spec = serviceSpec(project, manifest, image, secrets, instanceIndex(target), desiredReplicas(project), await traceEndpoint(docker, project, network, state));
  const next: ContainerSpec = { ...spec, name: `${spec.name}-next`, ports: Object.fromEntries(Object.keys(spec.ports).map((port) => [port, 0])) };
  await docker.getContainer(next.name).remove({ force: true }).catch(() => undefined);
  sink.emit({ type: 'target', target, phase: 'starting', detail: `${next.name} (${image})${options.bundleOnly ? ', with the new bundle' : ''}` });
  const container = await docker.createContainer(createOptions(next, network) as Dockerode.ContainerCreateOptions);
  try {
    if (options.bundleOnly) await container.putArchive(bundleFiles(manifest).archive(), { path: '/' });
    await container.start();
    await waitHealthy(docker, next, (manifest.startTimeoutSeconds ?? timeoutSeconds) * 1000, sink);
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined);
    sink.emit({ type: 'target', target, phase: 'healthy', detail: 'the new version did not become healthy; the running one keeps serving' });
    const reason = (error as Error).message;
    throw new MsctlError('UNHEALTHY', `${reason}; ${target} keeps running its previous version`, (error as MsctlError).hint ?? `msctl logs ${target}`);
  }
  const address = (await container.inspect()).NetworkSettings.Networks[network]?.IPAddress;
  // By address: the new container's own name goes when it takes the old one's.
  if (address) await routeDockerGateways(docker, project, secrets, target, `http://${address}:${manifest.port}`);
  await docker.getContainer(info.Id).stop({ t: 15 }).catch(() => undefined);
  await docker.getContainer(info.Id).remove({ force: true });
  await container.rename({ name: spec.name });
  state.restarts[target] = (state.restarts[target] ?? 0) + 1;
  await writeDockerState(project, state);
  sink.emit({ type: 'target', target, phase: 'healthy' });
}

/** Sends every running gateway container the routing table with `target` at `url`. */
async function routeDockerGateways(docker: Docker, project: Project, secrets: StackSecrets, target: string, url: string): Promise<void> {
  const gateways = project.manifests.filter((manifest) => manifest.gateway);
  if (gateways.length === 0) return;
  const replicas = desiredReplicas(project);
  const routes = gatewayRoutes(project.manifests, (service) => instanceUrls(project, service, replicas).map((each, i) => (instanceName(service, i + 1) === target ? url : each)));
  for (const info of await listContainers(docker, project)) {
    const gateway = gateways.find((manifest) => serviceOfInstance(targetOf(info) ?? '') === manifest.name);
    const port = info.Ports.find((published) => published.IP === '127.0.0.1')?.PublicPort;
    if (!gateway || info.State !== 'running' || !port) continue;
    await sendGatewayRoutes(`http://127.0.0.1:${port}`, routes, secrets.internalAuth.privateKey);
  }
}
