/**
 * The root package.json's npm workspaces: a new services/<name> is usually covered by the
 * "services/*" glob already; when the list is explicit, the folder is added to it.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { matchesGlob } from 'node:path';

export interface WorkspaceChange {
  /** The workspace pattern that covers the folder, when one does. */
  coveredBy: string | undefined;
  /** True when the folder had to be added to the list. */
  added: boolean;
  /** False when the package.json declares no workspaces at all (then nothing is changed). */
  workspaces: boolean;
}

type PackageJson = { workspaces?: string[] | { packages?: string[] } } & Record<string, unknown>;

const patternsOf = (pkg: PackageJson): string[] | undefined =>
  Array.isArray(pkg.workspaces) ? pkg.workspaces : Array.isArray(pkg.workspaces?.packages) ? pkg.workspaces.packages : undefined;

const normalise = (pattern: string) => pattern.replace(/^\.\//, '').replace(/\/+$/, '');

/** The first pattern that covers `folder` (relative, posix), honouring "!negations" that come after it. */
export function coveringPattern(patterns: readonly string[], folder: string): string | undefined {
  let covering: string | undefined;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = normalise(negated ? raw.slice(1) : raw);
    if (!matchesGlob(folder, pattern)) continue;
    covering = negated ? undefined : (covering ?? raw);
  }
  return covering;
}

/** What adding `folder` would change (nothing is written). */
export function planWorkspace(pkg: PackageJson, folder: string): WorkspaceChange {
  const patterns = patternsOf(pkg);
  if (!patterns) return { coveredBy: undefined, added: false, workspaces: false };
  const coveredBy = coveringPattern(patterns, folder);
  return { coveredBy, added: coveredBy === undefined, workspaces: true };
}

/** `pkg` with `folder` in its workspace list (the same object shape: array or { packages }). */
export function withWorkspace(pkg: PackageJson, folder: string): PackageJson {
  if (Array.isArray(pkg.workspaces)) return { ...pkg, workspaces: [...pkg.workspaces, folder] };
  if (pkg.workspaces && Array.isArray(pkg.workspaces.packages)) return { ...pkg, workspaces: { ...pkg.workspaces, packages: [...pkg.workspaces.packages, folder] } };
  return pkg;
}

export async function readPackageJson(file: string): Promise<{ pkg: PackageJson; indent: string }> {
  const text = await readFile(file, 'utf8');
  const indent = /^[{[]\r?\n([ \t]+)/.exec(text)?.[1] ?? '  ';
  return { pkg: JSON.parse(text) as PackageJson, indent };
}

/**
 * Adds `folder` to the workspaces of `file` unless a pattern covers it already. The file is
 * replaced atomically (write a sibling, rename). Returns what it did.
 */
export async function ensureWorkspace(file: string, folder: string): Promise<WorkspaceChange> {
  const { pkg, indent } = await readPackageJson(file);
  const change = planWorkspace(pkg, folder);
  if (!change.added) return change;
  const temp = `${file}.msctl-${process.pid}`;
  await writeFile(temp, `${JSON.stringify(withWorkspace(pkg, folder), null, indent)}\n`);
  await rename(temp, file);
  return change;
}
