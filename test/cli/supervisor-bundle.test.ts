import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli';

// The global setup builds dist/ before any test runs.
const supervisorBundle = join(repoRoot, 'dist', 'supervisor.js');

describe('the supervisor bundle (docs/performance.md: its memory)', () => {
  it('is one file: its dependencies inside, node modules through require, not import', async () => {
    const source = await readFile(supervisorBundle, 'utf8');
    const imports = [...source.matchAll(/^import\b[^;]*?from\s*["']([^"']+)["']/gm)].map((match) => match[1]);
    // The one import is the require() the bundle is given (node:module's createRequire).
    expect(imports).toEqual(['node:module']);
    expect(source).toMatch(/^\/\/ node_modules\/kafkajs\//m);
    expect(source).toMatch(/^\/\/ node_modules\/zod\//m);
    // execa loaded the worker machinery for three calls that need none of it.
    expect(source).not.toMatch(/^\/\/ node_modules\/execa\//m);
  });

  it('starts from the one file and refuses a directory that is not an msctl project', async () => {
    const error = await promisify(execFile)(process.execPath, [supervisorBundle, join(repoRoot, 'no-such-project')]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toMatch(/supervisor failed: .*not an msctl project/);
  });
});
