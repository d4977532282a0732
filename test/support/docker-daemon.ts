/**
 * The Docker daemon for the docker-runtime tests: used when one answers, started here
 * (Debian's dockerd, as root) when none does, and stopped again afterwards if we started it.
 * Never skipped: when there is no way to get a daemon, the test fails saying why.
 */
import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { dockerAnswers } from '../../src/runtime/docker/engine';
import { terminatePid } from '../../src/infra/ports';
import type { ThrowawayProject } from './throwaway-project';
import { sleep } from '../../src/core/sleep';

export interface DaemonHandle {
  startedHere: boolean;
  stop(): Promise<void>;
}

export async function ensureDockerDaemon(): Promise<DaemonHandle> {
  if (await dockerAnswers()) return { startedHere: false, stop: async () => undefined };
  const dockerd = ['/usr/sbin/dockerd', '/usr/bin/dockerd'].find((path) => existsSync(path));
  if (!dockerd) throw new Error('no Docker daemon answers and dockerd is not installed: apt-get install -y docker.io (npm run setup does it)');
  if (process.getuid?.() !== 0) throw new Error('no Docker daemon answers, and starting dockerd needs root: start it (sudo systemctl start docker) and run the tests again');
  const log = openSync('/tmp/msctl-test-dockerd.log', 'a');
  const child = spawn(dockerd, [], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await dockerAnswers()) return { startedHere: true, stop: () => terminatePid(child.pid!, 'SIGTERM', 20_000) };
    if (child.exitCode !== null) break;
    await sleep(500);
  }
  throw new Error('dockerd did not answer within 60 s: see /tmp/msctl-test-dockerd.log');
}

/**
 * Takes a test file's docker stack away: `down -v`, the service images built for it (tagged by
 * the project's name, so only this file's own), and the throwaway project.
 */
export async function removeDockerStack(project: ThrowawayProject, down: () => Promise<unknown>): Promise<void> {
  await down();
  const name = project.dir.split('/').at(-1)!.toLowerCase();
  const images = await execa('docker', ['images', '--filter', `reference=msctl/${name}-*`, '-q'], { reject: false });
  const ids = String(images.stdout).trim();
  if (ids) await execa('docker', ['rmi', '-f', ...ids.split('\n')], { reject: false });
  await project.remove();
}
