/** The connection to the Docker Engine (dockerode), with errors that say what to do. */
import Docker from 'dockerode';
import { MsctlError } from '../../core/errors';

export type { Docker };

export function dockerSocket(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

export function createDocker(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
  }
  return new Docker({ socketPath: dockerSocket(env) });
}

/** Pings the daemon; throws an MsctlError saying why it cannot be used and how to fix that. */
export async function connectDocker(env: NodeJS.ProcessEnv = process.env, timeoutMs = 3_000): Promise<Docker> {
  const docker = createDocker(env);
  try {
    await Promise.race([
      docker.ping(),
      new Promise((_, reject) => setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })), timeoutMs)),
    ]);
    return docker;
  } catch (error) {
    throw dockerUnavailable(error, env);
  }
}

export function dockerUnavailable(error: unknown, env: NodeJS.ProcessEnv = process.env): MsctlError {
  const code = (error as { code?: string }).code;
  const where = env.DOCKER_HOST ?? `unix://${dockerSocket(env)}`;
  if (code === 'EACCES') {
    return new MsctlError('DOCKER_UNAVAILABLE', `no permission to use the Docker daemon at ${where}`, 'add your user to the docker group (sudo usermod -aG docker $USER, then log in again), or use --runtime local');
  }
  if (code === 'ENOENT' || code === 'ECONNREFUSED') {
    return new MsctlError('DOCKER_UNAVAILABLE', `no Docker daemon answers at ${where}`, 'start it (sudo systemctl start docker, or dockerd &), or use the embedded runtime: --runtime local');
  }
  return new MsctlError('DOCKER_UNAVAILABLE', `the Docker daemon at ${where} did not answer: ${(error as Error).message}`, 'check `docker info`, or use --runtime local');
}

/** True when a daemon answers quickly; used to choose the runtime. */
export async function dockerAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  try {
    await connectDocker(env, 1_000);
    return true;
  } catch {
    return false;
  }
}
