// Bundles every service (services/<name>/src/main.ts → services/<name>/dist/main.js, one file
// that runs with plain node) and the CLI (src/cli/main.ts → dist/cli.js). Skips what is fresh.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** `import sql from './x.sql?raw'` → the file's text, as Vite does in tests. */
const rawImports = {
  name: 'raw-imports',
  setup(esbuild) {
    esbuild.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'raw',
    }));
    esbuild.onLoad({ filter: /.*/, namespace: 'raw' }, (args) => ({
      contents: readFileSync(args.path, 'utf8'),
      loader: 'text',
    }));
  },
};

/**
 * esbuild names a lazy chunk after the file it starts from, so every src/cli/commands/<name>/run.ts
 * would be a run-<hash>.js. main.ts's `import('./commands/<name>/run')` goes through a one-line
 * stand-in named after the command's folder instead (export * from './run'): logs-<hash>.js.
 */
const commandChunkNames = {
  name: 'command-chunk-names',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^\.\/commands\/[^/]+\/run$/ }, (args) => ({
      path: resolve(args.resolveDir, dirname(args.path)),
      namespace: 'command',
    }));
    esbuild.onLoad({ filter: /.*/, namespace: 'command' }, (args) => ({
      contents: "export * from './run';",
      resolveDir: args.path,
      loader: 'ts',
    }));
  },
};

// Bundled CommonJS dependencies call require(); give the ESM bundle one.
const requireShim = "import { createRequire as __msctlCreateRequire } from 'node:module'; const require = __msctlCreateRequire(import.meta.url);";

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  sourcemap: 'linked',
  logLevel: 'warning',
  banner: { js: requireShim },
  plugins: [rawImports],
};

const servicesDir = join(root, 'services');
const builds = [];
for (const name of readdirSync(servicesDir)) {
  const entry = join(servicesDir, name, 'src', 'main.ts');
  if (!existsSync(entry)) continue;
  builds.push(
    build({
      ...common,
      entryPoints: [entry],
      outfile: join(servicesDir, name, 'dist', 'main.js'),
      // pg's optional native binding is never used.
      external: ['pg-native'],
    }).then(() => name),
  );
}
const cliEntry = join(root, 'src', 'cli', 'main.ts');
const supervisorEntry = join(root, 'src', 'runtime', 'local', 'supervisor-main.ts');
const dockerWatcherEntry = join(root, 'src', 'runtime', 'docker', 'watcher-main.ts');
if (existsSync(cliEntry)) {
  // Code splitting: dist/cli.js is the entry; every `await import('./commands/…')` (and the ink
  // view) becomes a chunk of its own, so `msctl --help` loads none of ink, dockerode or kafkajs.
  // The detached supervisor is a second entry, dist/supervisor.js; everything (entries and
  // chunks) sits flat in dist/, so code in any chunk finds supervisor.js next to itself.
  // dist/ holds only this build: files it did not write are removed afterwards (not before, so a
  // msctl already running from dist/ keeps finding its chunks while this build runs).
  const entryPoints = {
    cli: cliEntry,
    ...(existsSync(supervisorEntry) ? { supervisor: supervisorEntry } : {}),
    ...(existsSync(dockerWatcherEntry) ? { 'docker-watcher': dockerWatcherEntry } : {}),
  };
  const outdir = join(root, 'dist');
  builds.push(
    build({
      ...common,
      banner: {},
      entryPoints,
      outdir,
      entryNames: '[name]',
      chunkNames: '[name]-[hash]',
      splitting: true,
      packages: 'external',
      metafile: true,
      plugins: [...common.plugins, commandChunkNames],
    }).then(async (result) => {
      const written = new Set(Object.keys(result.metafile.outputs).map((output) => resolve(process.cwd(), output)));
      for (const name of readdirSync(outdir)) {
        const file = join(outdir, name);
        if (!written.has(file)) await rm(file, { recursive: true, force: true });
      }
      return 'msctl';
    }),
  );
}
const built = await Promise.all(builds);
console.log(`built ${built.join(', ')}`);
