/**
 * What the docker runtime keeps besides the Engine's own records: .msctl/docker.json (the Kafka
 * cluster id, where spans go, restarts the watcher made), and how a container maps to a target.
 */
import { isIPv4 } from 'node:net';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { MsctlError } from '../../core/errors';
import type { TargetPhase } from '../../core/events';
import { findFreePort } from '../../infra/ports';
import { ensureStateDir, type Project } from '../../stack/project';
import type { Docker } from './engine';
import { COMPOSE, TARGET_LABEL, type TraceTarget } from './spec';

export interface DockerState {
  clusterId: string;
  /** Where containers send their spans: msctl's trace receiver, run by the watcher on the network's gateway address. */
  otlp?: { host: string; port: number };
  /** Restarts the watcher made (containers stopped behind msctl's back), by target. */
  restarts: Record<string, number>;
}

export const stateFile = (project: Project) => join(project.stateDir, 'docker.json');

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
  await rename(temporary, stateFile(project));
}

export const projectFilter = (project: Project) => ({ label: [`${COMPOSE}.project=${project.name}`] });

/** The part of the stack a container runs: "users", "users#2", "kafka". */
export const targetOf = (info: { Labels: Record<string, string> }): string | undefined => info.Labels[TARGET_LABEL] ?? info.Labels[`${COMPOSE}.service`];

export async function listContainers(docker: Docker, project: Project): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: projectFilter(project) });
}

export function phaseOf(info: Pick<Dockerode.ContainerInfo, 'State' | 'Status'>): TargetPhase {
  if (info.State === 'restarting') return 'restarting';
  if (info.State !== 'running') return info.State === 'created' ? 'starting' : 'stopped';
  if (info.Status.includes('(healthy)')) return 'healthy';
  if (info.Status.includes('(unhealthy)')) return 'unhealthy';
  if (info.Status.includes('health: starting')) return 'starting';
  return 'running';
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
export async function traceEndpoint(docker: Docker, project: Project, network: string, state: DockerState): Promise<TraceTarget> {
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
export function otlpEndpointOf(state: DockerState): TraceTarget | undefined {
  return userCollector() ?? (state.otlp ? { endpoint: `http://${state.otlp.host}:${state.otlp.port}`, external: false } : undefined);
}
