/**
 * `msctl dev`'s loop: saved files → the services they affect → bundle and type-check each →
 * restart it, without downtime (the runtime's restart is blue-green). Decisions come from
 * `affectedServices`; every effect is injected, so that the loop is tested with fakes.
 */
import type { ServiceManifest } from '../stack/manifest';
import { manifestOf, type Project } from '../stack/project';
import { affectedServices, type ChangeKind } from './changes';
import type { StepResult } from './build';

export type DevEvent =
  | { type: 'watching'; services: string[]; typecheck: boolean }
  | { type: 'changed'; service: string; kinds: ChangeKind[]; files: string[] }
  /** The save did not reach the service: the running version keeps serving. */
  | { type: 'failed'; service: string; step: 'build' | 'typecheck' | 'restart' | 'manifest'; output: string }
  | { type: 'reloaded'; service: string; kinds: ChangeKind[]; buildMs: number; typecheckMs: number; restartMs: number };

export interface DevLoopDeps {
  project: Project;
  /** The services to watch (the ones `dev` started). */
  services: string[];
  /** Calls `onPaths` with absolute paths as files change; returns how to stop watching. */
  watch(onPaths: (paths: string[]) => void): () => void;
  bundle(manifest: ServiceManifest): Promise<StepResult>;
  typecheck(manifest: ServiceManifest): Promise<StepResult>;
  /** The runtime's restart: the new instance healthy before the old one stops. */
  restart(service: string): Promise<void>;
  /** Reads the manifests again (a service.json changed); throws what is wrong with them. */
  reloadProject(): Promise<Project>;
  emit(event: DevEvent): void;
  signal: AbortSignal;
  /** How long to wait for more saves before acting on them (an editor writes in bursts). */
  debounceMs?: number;
  now?: () => number;
}

/** Runs until `signal` aborts; one round of rebuilds at a time, saves during a round make the next. */
export async function runDevLoop(deps: DevLoopDeps): Promise<void> {
  const now = deps.now ?? (() => performance.now());
  let project = deps.project;
  let pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();

  const act = async (paths: string[]) => {
    const names = project.manifests.map((manifest) => manifest.name);
    const affected = affectedServices(paths, { servicesDir: project.servicesDir, envDir: `${project.stateDir}/env` }, names, deps.services);
    if (affected.length === 0) return;
    if (affected.some((entry) => entry.kinds.includes('manifest'))) {
      try {
        project = await deps.reloadProject();
      } catch (error) {
        for (const entry of affected.filter((each) => each.kinds.includes('manifest'))) {
          deps.emit({ type: 'failed', service: entry.service, step: 'manifest', output: `${(error as Error).message}\n` });
        }
        return;
      }
    }
    for (const entry of affected) deps.emit({ type: 'changed', service: entry.service, kinds: entry.kinds, files: entry.files });
    // Bundles and type checks of every affected service at once; restarts one at a time.
    const built = await Promise.all(
      affected.map(async (entry) => {
        const manifest = manifestOf(project, entry.service);
        if (!manifest) return undefined;
        const [bundle, types] = await Promise.all([deps.bundle(manifest), deps.typecheck(manifest)]);
        if (!bundle.ok) deps.emit({ type: 'failed', service: entry.service, step: 'build', output: bundle.output ?? '' });
        else if (!types.ok) deps.emit({ type: 'failed', service: entry.service, step: 'typecheck', output: types.output ?? '' });
        return bundle.ok && types.ok ? { entry, bundle, types } : undefined;
      }),
    );
    for (const ready of built) {
      if (!ready || deps.signal.aborted) continue;
      const started = now();
      try {
        await ready.bundle.write?.();
        await deps.restart(ready.entry.service);
      } catch (error) {
        deps.emit({ type: 'failed', service: ready.entry.service, step: 'restart', output: describeError(error) });
        continue;
      }
      deps.emit({ type: 'reloaded', service: ready.entry.service, kinds: ready.entry.kinds, buildMs: ready.bundle.ms, typecheckMs: ready.types.ms, restartMs: now() - started });
    }
  };

  const flush = () => {
    timer = undefined;
    const paths = pending;
    pending = [];
    round = round.then(() => act(paths)).catch((error: unknown) => deps.emit({ type: 'failed', service: '*', step: 'build', output: describeError(error) }));
  };

  const stop = deps.watch((paths) => {
    pending.push(...paths);
    clearTimeout(timer);
    timer = setTimeout(flush, deps.debounceMs ?? 80);
  });
  try {
    await new Promise<void>((resolve) => {
      if (deps.signal.aborted) resolve();
      deps.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    stop();
    clearTimeout(timer);
    await round;
  }
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const hint = (error as { hint?: string }).hint;
  return `${message}\n${hint ? `${hint}\n` : ''}`;
}
