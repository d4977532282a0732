/**
 * How many instances of each service run. The manifest's `replicas` is the default;
 * `msctl scale` records changes in .msctl/replicas.json, which every later `up` honours.
 * Instance 1 of a service keeps the service's name and port; the others are "<name>#<k>".
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MsctlError } from '../core/errors';
import { ensureStateDir, type Project } from './project';

const file = (project: Project) => join(project.stateDir, 'replicas.json');

export function desiredReplicas(project: Project): Record<string, number> {
  let saved: Record<string, number> = {};
  try {
    saved = JSON.parse(readFileSync(file(project), 'utf8')) as Record<string, number>;
  } catch {
    saved = {};
  }
  return Object.fromEntries(project.manifests.map((manifest) => [manifest.name, Number.isInteger(saved[manifest.name]) && saved[manifest.name]! > 0 ? saved[manifest.name]! : manifest.replicas]));
}

export async function saveReplicas(project: Project, replicas: Record<string, number>): Promise<void> {
  ensureStateDir(project.stateDir);
  const temporary = `${file(project)}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(replicas, null, 2)}\n`);
  await rename(temporary, file(project));
}

export const instanceName = (service: string, index: number) => (index === 1 ? service : `${service}#${index}`);
export const serviceOfInstance = (instance: string) => instance.split('#')[0]!;
export const instanceIndex = (instance: string) => Number(instance.split('#')[1] ?? 1);

export function instanceNames(service: string, replicas: number): string[] {
  return Array.from({ length: replicas }, (_, i) => instanceName(service, i + 1));
}

/** Parses `svc=N` arguments; a service that does not exist or a count that is not 1–32 is a usage error. */
/** The most instances a service runs: each one is a process (or a container) on this machine. */
export const MAX_REPLICAS = 32;

export function parseScaleArguments(project: Project, args: string[]): Record<string, number> {
  if (args.length === 0) throw new MsctlError('USAGE', 'nothing to scale', 'e.g. msctl scale notifications=3 users=2');
  const result: Record<string, number> = {};
  for (const arg of args) {
    const match = arg.match(/^([a-z][a-z0-9-]*)=(\d+)$/);
    if (!match) throw new MsctlError('USAGE', `"${arg}" is not <service>=<count>`, 'e.g. msctl scale notifications=3');
    const [, service, count] = match as unknown as [string, string, string];
    if (!project.manifests.some((manifest) => manifest.name === service)) {
      throw new MsctlError('USAGE', `no service named ${service}`, `services: ${project.manifests.map((m) => m.name).join(', ')}`);
    }
    const replicas = Number(count);
    if (replicas < 1 || replicas > MAX_REPLICAS) throw new MsctlError('USAGE', `${service}=${replicas}: a service runs 1 to ${MAX_REPLICAS} instances`, 'use msctl down to stop everything');
    result[service] = replicas;
  }
  return result;
}
