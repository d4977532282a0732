/**
 * Which runtime a command talks to. A stack that runs keeps the runtime it was started with
 * (docker writes .msctl/runtime; the local supervisor leaves its state file). For a new stack:
 * --runtime, else MSCTL_RUNTIME, else docker when a daemon answers, else local.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MsctlError } from '../core/errors';
import type { Project } from '../stack/project';
import type { Runtime, RuntimeOpenOptions } from './runtime';
import type { RuntimeChoice, RuntimeKind } from './types';

export type { RuntimeChoice, RuntimeKind } from './types';

export function runtimeInUse(project: Project): RuntimeKind | undefined {
  const marker = join(project.stateDir, 'runtime');
  if (existsSync(marker) && readFileSync(marker, 'utf8').trim() === 'docker') return 'docker';
  if (existsSync(join(project.stateDir, 'state.json'))) return 'local';
  return undefined;
}

function parseChoice(value: string | undefined, source: string): RuntimeChoice | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'auto' || value === 'local' || value === 'docker') return value;
  throw new MsctlError('USAGE', `${source} ${value} is not a runtime`, 'use auto, local or docker');
}

/** The runtime for `up`. */
export async function runtimeForUp(project: Project, requested: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<RuntimeKind> {
  const choice = parseChoice(requested === 'auto' ? undefined : requested, '--runtime') ?? parseChoice(env.MSCTL_RUNTIME, 'MSCTL_RUNTIME') ?? 'auto';
  const inUse = runtimeInUse(project);
  if (inUse && choice !== 'auto' && choice !== inUse) {
    throw new MsctlError('USAGE', `this stack runs on the ${inUse} runtime`, `stop it first (msctl down), then msctl up --runtime ${choice}`);
  }
  if (inUse) return inUse;
  if (choice !== 'auto') return choice;
  // Loaded here only: the Docker client is heavy, and nothing else in this module needs it.
  const { dockerAnswers } = await import('./docker/engine');
  return (await dockerAnswers(env)) ? 'docker' : 'local';
}

/** The runtime for status, logs, restart and down: the one the stack runs on (local when none). */
export function runtimeForExisting(project: Project): RuntimeKind {
  return runtimeInUse(project) ?? 'local';
}

/**
 * The only place that knows there are two runtimes. Without a choice: the runtime the stack runs
 * on (local when none runs). With one (`up --runtime`): as runtimeForUp decides. Each runtime is
 * loaded here only, so a command that needs neither loads neither (dockerode is heavy).
 */
export async function openRuntime(project: Project, choice?: string, options: RuntimeOpenOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<Runtime> {
  const { env = process.env, ...open } = options;
  const kind = choice === undefined ? runtimeForExisting(project) : await runtimeForUp(project, choice, env);
  if (kind === 'docker') {
    const { DockerRuntime } = await import('./docker/runtime');
    return new DockerRuntime(project, open);
  }
  const { LocalRuntime } = await import('./local/runtime');
  return new LocalRuntime(project, open);
}
