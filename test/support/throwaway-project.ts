/**
 * A throwaway msctl project: every service of this repository (manifest + built bundle) in a
 * temp folder, each on a free port, with Kafka and PostgreSQL on free ports too. A stack
 * started there never collides with one the developer runs.
 */
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
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

/**
 * With `sources`, each service's src/ and package.json, the kit, the root tsconfig.json and a
 * node_modules of links to this repository's (its @msctl/kit the copy's own), so that msctl
 * can build and type-check there, as `msctl dev` does.
 */
export async function createThrowawayProject(repoRoot: string, options: { sources?: boolean } = {}): Promise<ThrowawayProject> {
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
    if (options.sources) {
      await cp(join(servicesDir, name, 'src'), join(dir, 'services', name, 'src'), { recursive: true });
      await cp(join(servicesDir, name, 'package.json'), join(dir, 'services', name, 'package.json'));
    }
  }
  if (options.sources) await copySources(repoRoot, dir);
  return {
    dir,
    ports,
    env: { MSCTL_KAFKA_PORT: String(free.pop()), MSCTL_KAFKA_CONTROLLER_PORT: String(free.pop()), MSCTL_POSTGRES_PORT: String(free.pop()) },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

async function copySources(repoRoot: string, dir: string): Promise<void> {
  await cp(join(repoRoot, 'services', 'kit'), join(dir, 'services', 'kit'), { recursive: true, filter: (path) => !path.includes('node_modules') });
  await cp(join(repoRoot, 'tsconfig.json'), join(dir, 'tsconfig.json'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'msctl-throwaway', private: true, type: 'module' }));
  const modules = join(dir, 'node_modules');
  await mkdir(join(modules, '@msctl'), { recursive: true });
  for (const entry of await readdir(join(repoRoot, 'node_modules'))) {
    if (entry === '@msctl' || entry === '.bin') continue;
    await symlink(join(repoRoot, 'node_modules', entry), join(modules, entry));
  }
  await symlink(join(dir, 'services', 'kit'), join(modules, '@msctl', 'kit'));
  await symlink(join(repoRoot, 'node_modules', '.bin'), join(modules, '.bin'));
  // The bundles were built from these sources: copied after them, they are not stale.
  const now = new Date();
  for (const name of await readdir(join(dir, 'services'))) {
    const bundle = join(dir, 'services', name, 'dist', 'main.js');
    if (existsSync(bundle)) await utimes(bundle, now, now);
  }
}
