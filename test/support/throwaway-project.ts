/**
 * A throwaway msctl project: every service of this repository (manifest + built bundle) in a
 * temp folder, each on a free port, with Kafka and PostgreSQL on free ports too. A stack
 * started there never collides with one the developer runs.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from '../../src/infra/ports';

export interface ThrowawayProject {
  dir: string;
  /** MSCTL_* port settings to pass to every msctl call. */
  env: Record<string, string>;
  /** Service name → its port. */
  ports: Record<string, number>;
  remove(): Promise<void>;
}

async function distinctFreePorts(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(await findFreePort());
  return [...chosen];
}

export async function createThrowawayProject(repoRoot: string): Promise<ThrowawayProject> {
  const dir = await mkdtemp(join(tmpdir(), 'msctl-project-'));
  await chmod(dir, 0o755); // PostgreSQL runs as an unprivileged user when we are root
  const servicesDir = join(repoRoot, 'services');
  const names = (await readdir(servicesDir)).filter((name) => existsSync(join(servicesDir, name, 'service.json')));
  const free = await distinctFreePorts(names.length + 3);
  const ports: Record<string, number> = {};
  for (const name of names) {
    const manifest = JSON.parse(await readFile(join(servicesDir, name, 'service.json'), 'utf8')) as { port: number };
    const port = free.pop()!;
    ports[name] = port;
    manifest.port = port;
    await mkdir(join(dir, 'services', name), { recursive: true });
    await writeFile(join(dir, 'services', name, 'service.json'), JSON.stringify(manifest, null, 2));
    await cp(join(servicesDir, name, 'dist'), join(dir, 'services', name, 'dist'), { recursive: true });
  }
  return {
    dir,
    ports,
    env: { MSCTL_KAFKA_PORT: String(free.pop()), MSCTL_KAFKA_CONTROLLER_PORT: String(free.pop()), MSCTL_POSTGRES_PORT: String(free.pop()) },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
