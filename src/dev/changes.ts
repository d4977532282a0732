/**
 * Which services a set of saved files affects, and why: pure, so that `msctl dev` decides in
 * one place what to rebuild and restart.
 */
import { basename, join, relative, sep } from 'node:path';

/** Why a service reloads: its code, the shared kit, its manifest, its schema, or its overrides. */
export type ChangeKind = 'source' | 'kit' | 'manifest' | 'migration' | 'env';

export interface AffectedService {
  service: string;
  /** What changed, each once, in the order first seen. */
  kinds: ChangeKind[];
  /** The files, relative to the services folder. */
  files: string[];
}

const KIT = 'kit';
/** Editors' own files: swap files, backups, vim's write test, emacs locks. */
const EDITOR_NOISE = [/\.sw[a-p]x?$/, /~$/, /^4913$/, /^\.#/, /\.tmp$/];
const IGNORED_SEGMENTS = new Set(['node_modules', 'dist', 'test', '.git']);

/**
 * `paths` are absolute. A change under services/kit affects every service; under
 * services/<name>/ that one: its src/ (migrations included), its service.json, its package.json
 * and its .env. Tests, bundles and editors' temporary files affect nothing.
 */
export function affectedServices(
  paths: string[],
  dirs: { servicesDir: string; /** .msctl/env: a <service>.env there overrides its environment. */ envDir?: string },
  services: readonly string[],
  watched: readonly string[] = services,
): AffectedService[] {
  const { servicesDir, envDir } = dirs;
  const byService = new Map<string, AffectedService>();
  const add = (service: string, kind: ChangeKind, file: string) => {
    if (!watched.includes(service)) return;
    const entry = byService.get(service) ?? { service, kinds: [], files: [] };
    if (!entry.kinds.includes(kind)) entry.kinds.push(kind);
    if (!entry.files.includes(file)) entry.files.push(file);
    byService.set(service, entry);
  };
  for (const path of paths) {
    if (envDir && relative(envDir, path) === basename(path) && path.endsWith('.env')) {
      add(basename(path, '.env'), 'env', relative(join(envDir, '..', '..'), path));
      continue;
    }
    const file = relative(servicesDir, path);
    if (file.startsWith('..') || file === '') continue;
    const segments = file.split(sep);
    const name = basename(file);
    if (EDITOR_NOISE.some((pattern) => pattern.test(name))) continue;
    if (segments.slice(1).some((segment) => IGNORED_SEGMENTS.has(segment))) continue;
    const [owner, second] = segments;
    const kind = kindOf(segments);
    if (!kind) continue;
    if (owner === KIT) {
      if (second === 'src' || second === 'package.json') for (const service of services) add(service, 'kit', file);
      continue;
    }
    if (owner && services.includes(owner)) add(owner, kind, file);
  }
  return [...byService.values()];
}

function kindOf(segments: string[]): ChangeKind | undefined {
  const [, second] = segments;
  if (segments.length === 2 && second === 'service.json') return 'manifest';
  if (segments.length === 2 && second === '.env') return 'env';
  if (segments.length === 2 && second === 'package.json') return 'source';
  if (second !== 'src') return undefined;
  return segments.includes('migrations') ? 'migration' : 'source';
}
