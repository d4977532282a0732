/**
 * The images an export names: exactly the ones `msctl up --runtime docker` runs, resolved (and
 * built when missing) by the docker runtime's own functions, so an exported stack never names
 * an image that does not exist on this daemon.
 */
import { randomBytes } from 'node:crypto';
import { isMsctlError, MsctlError } from '../core/errors';
import type { ProgressSink } from '../core/events';
import { connectDocker } from '../runtime/docker/engine';
import { ensureKafkaImage, ensureNodeBase, ensurePostgresImage, ensureServiceImage, type StackImages } from '../runtime/docker/images';
import { readDockerState, writeDockerState } from '../runtime/docker/state';
import type { Project } from '../stack/project';

export async function resolveStackImages(project: Project, options: { offline: boolean; infrastructure: boolean }, sink: ProgressSink): Promise<StackImages> {
  const docker = await connectDocker().catch((error: unknown) => {
    if (!isMsctlError(error)) throw error;
    throw new MsctlError(error.code, `${error.message}: the export names the images msctl builds there`, 'start Docker (the docker runtime builds and tags the images), or export k8s without --build', { cause: error });
  });
  const services: Record<string, string> = {};
  const base = await ensureNodeBase(docker, sink);
  for (const manifest of project.manifests) services[manifest.name] = await ensureServiceImage(docker, project.name, manifest, base, sink);
  if (!options.infrastructure) return { kafka: { tag: '', source: 'official' }, postgres: { tag: '', source: 'official' }, services };
  return { kafka: await ensureKafkaImage(docker, options.offline, sink), postgres: await ensurePostgresImage(docker, options.offline, sink), services };
}

/** The docker runtime's KRaft cluster id (created and kept when there is none yet): both then use the same Kafka volume. */
export async function stackClusterId(project: Project): Promise<string> {
  const state = await readDockerState(project);
  if (!state.clusterId) {
    state.clusterId = randomBytes(16).toString('base64url').replace(/^-/, 'A');
    await writeDockerState(project, state);
  }
  return state.clusterId;
}
