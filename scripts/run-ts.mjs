// Runs a TypeScript entry point of this repository (a benchmark, a tool) on the pinned Node:
// bundles it with esbuild (dependencies stay external) and imports the result.
// Usage: node scripts/run-ts.mjs bench/up.ts [args…]
import { build } from 'esbuild';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const entry = process.argv[2];
if (!entry) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args…]');
  process.exit(2);
}
const outDir = join(root, 'node_modules', '.cache', 'msctl-run');
mkdirSync(outDir, { recursive: true });
const outfile = join(outDir, `${basename(entry, '.ts')}.mjs`);
await build({ entryPoints: [resolve(entry)], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node22', packages: 'external', logLevel: 'warning' });
process.argv.splice(1, 2, outfile);
await import(pathToFileURL(outfile).href);
