import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli';

// The global setup builds dist/ before any test runs.
const dist = join(repoRoot, 'dist');
/** What a file of the bundle imports, statically or by import(). */
const imports = (source: string) => [
  ...[...source.matchAll(/(?:^|[;}])\s*import\s*(?:[^'"();]*?\s*from\s*)?["']([^"']+)["']/gm)].map((match) => match[1]!),
  ...[...source.matchAll(/\bimport\(["']([^"']+)["']\)/g)].map((match) => match[1]!),
];

describe('the dashboard bundle (docs/performance.md: its memory)', () => {
  it('is a file of its own with ink, React, yoga and kafkajs inside, and React as its production build', async () => {
    const source = await readFile(join(dist, 'dashboard.js'), 'utf8');
    const packages = new Set<string>();
    const seen = new Set<string>();
    const visit = async (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of imports(await readFile(join(dist, file), 'utf8'))) {
        if (specifier.startsWith('./')) await visit(specifier.slice(2));
        else packages.add(specifier);
      }
    };
    await visit('dashboard.js');
    // Only node's own modules are loaded from outside (and React's devtools, which ink loads
    // only when they are installed and DEV=true), and only its own chunks from dist/.
    expect([...packages].filter((name) => !name.startsWith('node:'))).toEqual(['react-devtools-core']);
    expect([...seen].every((file) => file === 'dashboard.js' || file.startsWith('dashboard.'))).toBe(true);
    const all = (await Promise.all([...seen].map((file) => readFile(join(dist, file), 'utf8')))).join('\n');
    // Each package by a text of its own: ink's, yoga's wasm, kafkajs's errors, React's production build.
    for (const inside of ['Raw mode is not supported', 'data:application/octet-stream;base64', 'KafkaJSConnectionError', 'Minified React error']) expect(all, inside).toContain(inside);
    // React's development build (its warnings) is left out, as NODE_ENV is fixed.
    expect(all).not.toContain('Each child in a list should have a unique');
    expect(source).toMatch(/export\s*\{[^}]*\brunDashboard\b/);
  });

  it('is what the CLI loads for the dashboard, rather than the view from node_modules', async () => {
    const chunks = (await readdir(dist)).filter((file) => file.endsWith('.js') && file !== 'dashboard.js' && !file.startsWith('dashboard.'));
    const importers: string[] = [];
    for (const file of chunks) {
      const source = await readFile(join(dist, file), 'utf8');
      if (/import\(["']\.\/dashboard\.js["']\)/.test(source)) importers.push(file);
      // The CLI's own chunks reach ink for the TTY view only, never for the dashboard's.
      expect(source.includes('function runDashboard('), file).toBe(false);
    }
    expect(importers.length).toBeGreaterThan(0);
  });

});
