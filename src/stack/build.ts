import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { BuildOptions, Plugin } from 'esbuild';
import { MsctlError } from '../core/errors';
import type { ProgressSink } from '../core/events';
import type { ServiceManifest } from './manifest';

/** `import sql from './x.sql?raw'` → the file's text, as Vite does in tests. */
export const rawImportsPlugin: Plugin = {
  name: 'raw-imports',
  setup(build) {
    build.onResolve({ filter: /\?raw$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    build.onLoad({ filter: /.*/, namespace: 'raw' }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'text' }));
  },
};

// Bundled CommonJS dependencies call require(); give the ESM bundle one.
const REQUIRE_SHIM = "import { createRequire as __msctlCreateRequire } from 'node:module'; const require = __msctlCreateRequire(import.meta.url);";

export const serviceEntry = (manifest: ServiceManifest) => join(manifest.dir, 'src', 'main.ts');
export const serviceBundle = (manifest: ServiceManifest) => join(manifest.dir, 'dist', 'main.js');

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** A bundle is stale when any source of the service or of the shared kit is newer than it. */
export function isBundleStale(manifest: ServiceManifest, servicesDir: string): boolean {
  const bundle = serviceBundle(manifest);
  if (!existsSync(bundle)) return true;
  const built = statSync(bundle).mtimeMs;
  const inputs = [join(manifest.dir, 'src'), join(manifest.dir, 'package.json'), join(servicesDir, 'kit', 'src')];
  return inputs.some((input) => newestMtime(input) > built);
}

/** How a service is bundled: one file that runs with plain node (`msctl dev` rebuilds with the same). */
export function bundleOptions(manifest: ServiceManifest): BuildOptions {
  return {
    entryPoints: [serviceEntry(manifest)],
    outfile: serviceBundle(manifest),
    // The paths esbuild writes into the bundle are relative to this, not to the folder msctl runs
    // from: the same sources give the same bytes, so docker's content-tagged image stays the same.
    absWorkingDir: dirname(manifest.dir),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    sourcemap: 'linked',
    logLevel: 'silent',
    banner: { js: REQUIRE_SHIM },
    plugins: [rawImportsPlugin],
    // pg's optional native binding is never used.
    external: ['pg-native'],
  };
}

export function assertHasEntry(manifest: ServiceManifest): void {
  if (!existsSync(serviceEntry(manifest))) {
    throw new MsctlError('USAGE', `${manifest.name} has no src/main.ts`, `every service starts from services/${manifest.name}/src/main.ts`);
  }
}

/** Bundles one service into dist/main.js. */
export async function bundleService(manifest: ServiceManifest): Promise<void> {
  const { build } = await import('esbuild');
  assertHasEntry(manifest);
  try {
    await build(bundleOptions(manifest));
  } catch (error) {
    const messages = (error as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors ?? [];
    const first = messages[0];
    const where = first?.location ? ` at ${first.location.file}:${first.location.line}` : '';
    throw new MsctlError('USAGE', `${manifest.name} does not build: ${first?.text ?? (error as Error).message}${where}`, 'fix the error and run the command again');
  }
}

/** Builds the stale ones among `manifests`, reporting each; returns the names built. */
export async function buildStale(manifests: ServiceManifest[], servicesDir: string, sink: ProgressSink, force = false): Promise<string[]> {
  const stale = manifests.filter((manifest) => force || isBundleStale(manifest, servicesDir));
  const results = await Promise.allSettled(
    stale.map(async (manifest) => {
      sink.emit({ type: 'target', target: manifest.name, phase: 'building' });
      const started = Date.now();
      await bundleService(manifest);
      sink.emit({ type: 'target', target: manifest.name, phase: 'built', detail: `${Date.now() - started} ms` });
    }),
  );
  // Every build has ended before the first failure is told: none still writes its bundle after.
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return stale.map((manifest) => manifest.name);
}
