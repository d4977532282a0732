// Bundles every service (services/<name>/src/main.ts → services/<name>/dist/main.js, one file
// that runs with plain node) and the CLI (src/cli/main.ts → dist/cli.js). Skips what is fresh.
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
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

/**
 * Node's own modules through require(), not import. Importing one as an ES module reads every
 * export it has, lazy ones included: `import { createServer } from 'node:http'` loads undici
 * (for http's fetch-based exports) and the worker machinery, 18 MB of RSS where require('http')
 * costs 4 MB. The supervisor's own code imports node:http; the services reach it through
 * fastify's require() already.
 */
const builtinsThroughRequire = {
  name: 'builtins-through-require',
  setup(esbuild) {
    esbuild.onResolve({ filter: /^[a-z]/ }, (args) =>
      args.kind === 'import-statement' && isBuiltin(args.path) ? { path: args.path, namespace: 'builtin' } : undefined,
    );
    esbuild.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/**
 * The dashboard stays up for hours, so, like the supervisor, it is one file with its
 * dependencies in it (dist/dashboard.js, built below): the CLI's chunks import it as it is. A
 * module the CLI's chunks share with it (the project, the runtime) is loaded once by each; what
 * crosses between them are plain objects and errors that say what they are (isMsctlError).
 */
const dashboardEntry = join(root, 'src', 'dashboard', 'run.ts');
const dashboardAsItsOwnFile = {
  name: 'dashboard-as-its-own-file',
  setup(esbuild) {
    esbuild.onResolve({ filter: /\/dashboard\/run$/ }, (args) =>
      resolve(args.resolveDir, `${args.path}.ts`) === dashboardEntry ? { path: './dashboard.js', external: true } : undefined,
    );
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
  // The docker runtime's detached watcher is a second entry, dist/docker-watcher.js; everything
  // (entries and chunks) sits flat in dist/, so code in any chunk finds it next to itself.
  const outdir = join(root, 'dist');
  const cli = build({
    ...common,
    banner: {},
    entryPoints: { cli: cliEntry, ...(existsSync(dockerWatcherEntry) ? { 'docker-watcher': dockerWatcherEntry } : {}) },
    outdir,
    entryNames: '[name]',
    chunkNames: '[name]-[hash]',
    splitting: true,
    packages: 'external',
    metafile: true,
    plugins: [...common.plugins, commandChunkNames, dashboardAsItsOwnFile],
  });
  // ink, React, yoga and kafkajs from node_modules were some 500 modules (es-toolkit alone 415)
  // and React's development build kept in memory beside the production one. In one file, with
  // NODE_ENV fixed to production and the whitespace left out, RSS of a dashboard that has run
  // a while: 115–121 → 109–110 MB. Names are kept, so a stack trace still names each function.
  const dashboard = build({
    ...common,
    entryPoints: { dashboard: dashboardEntry },
    outdir,
    entryNames: '[name]',
    // ink's own import() of React's devtools (only when they are installed and DEV=true) stays
    // one, in a chunk of its own.
    splitting: true,
    chunkNames: 'dashboard.[name]-[hash]',
    external: ['pg-native', 'react-devtools-core'],
    metafile: true,
    minifyWhitespace: true,
    minifySyntax: true,
    define: { 'process.env.NODE_ENV': '"production"' },
    // The view's loader sets NODE_ENV for when it runs from the sources (tests); here it is fixed.
    logOverride: { 'assign-to-define': 'silent' },
  });
  // The local runtime's supervisor lives as long as the stack, so it is one file with its
  // dependencies in it, as a service is: loading them from node_modules as some 500 modules
  // touched more of node's own code and kept zod whole, where the bundle keeps what the
  // supervisor uses (93 → 82 MB of RSS once loaded).
  const supervisor = existsSync(supervisorEntry)
    ? build({ ...common, entryPoints: [supervisorEntry], outfile: join(outdir, 'supervisor.js'), external: ['pg-native'], metafile: true, plugins: [...common.plugins, builtinsThroughRequire] })
    : Promise.resolve(undefined);
  // dist/ holds only these builds: files they did not write are removed afterwards (not before,
  // so a msctl already running from dist/ keeps finding its chunks while this build runs).
  builds.push(
    Promise.all([cli, supervisor, dashboard]).then(async (results) => {
      const written = new Set(
        results.flatMap((result) => (result ? Object.keys(result.metafile.outputs) : [])).map((output) => resolve(process.cwd(), output)),
      );
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
