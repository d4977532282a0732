/**
 * A docker-runtime stack for one test file, as running-stack.ts is for the local runtime: a
 * throwaway project started with `msctl up -d <args>` on a real dockerd before the file's tests,
 * and taken away after them with its images (removeDockerStack), the daemon stopped if started here.
 */
import type { Result } from 'execa';
import { afterAll, beforeAll, expect } from 'vitest';
import { msctl, repoRoot } from './cli';
import { ensureDockerDaemon, removeDockerStack, type DaemonHandle } from './docker-daemon';
import { createThrowawayProject, type ThrowawayProject } from './throwaway-project';

export interface DockerStack {
  project(): ThrowawayProject;
  /** The compose project's name: containers are `<name>-<service>-<n>`. */
  name(): string;
  /** The built msctl against this stack, `--project-dir` last. */
  run(args: string[], options?: { input?: string }): Promise<Result>;
  /** The environment to give any other msctl call against this stack. */
  env(): Record<string, string>;
}

export function dockerStackForThisFile(upArgs: string[] = []): DockerStack {
  let daemon: DaemonHandle | undefined;
  let project: ThrowawayProject | undefined;
  const current = () => {
    if (!project) throw new Error('the docker stack is not started yet');
    return project;
  };
  const env = () => ({ ...current().env, MSCTL_RUNTIME: 'docker' });
  const run = (args: string[], options: { input?: string } = {}) => msctl([...args, '--project-dir', current().dir], { env: env(), timeout: 600_000, ...options });
  beforeAll(async () => {
    daemon = await ensureDockerDaemon();
    project = await createThrowawayProject(repoRoot);
    const up = await run(['up', '-d', ...upArgs]);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
  }, 900_000);
  afterAll(async () => {
    if (project) await removeDockerStack(project, () => run(['down', '-v']));
    await daemon?.stop();
  }, 120_000);
  return { project: current, name: () => current().dir.split('/').at(-1)!.toLowerCase(), run, env };
}
