/**
 * The files `msctl dev` watches: each service's folder (service.json, .env) and its src/,
 * the kit's src/, and .msctl/env. Only these, never node_modules or the bundles msctl writes.
 */
import { type FSWatcher, existsSync, mkdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import type { Project } from '../stack/project';

export function watchSources(project: Project, services: string[], onPaths: (paths: string[]) => void): () => void {
  const envDir = join(project.stateDir, 'env');
  mkdirSync(envDir, { recursive: true });
  const places: Array<{ dir: string; recursive: boolean }> = [
    { dir: envDir, recursive: false },
    { dir: join(project.servicesDir, 'kit', 'src'), recursive: true },
    ...services.flatMap((service) => [
      { dir: join(project.servicesDir, service), recursive: false },
      { dir: join(project.servicesDir, service, 'src'), recursive: true },
    ]),
  ];
  const watchers: FSWatcher[] = [];
  for (const { dir, recursive } of places) {
    if (!existsSync(dir)) continue;
    const watcher = watch(dir, { recursive, persistent: true }, (_event, file) => {
      if (file) onPaths([join(dir, file.toString())]);
    });
    // A folder removed while watched (a branch switch): the next save elsewhere still counts.
    watcher.on('error', () => undefined);
    watchers.push(watcher);
  }
  return () => {
    for (const watcher of watchers) watcher.close();
  };
}
