/**
 * Runs the built msctl binary the way a user does: `node bin/msctl.js …`. Tests run the local
 * runtime unless they pass --runtime docker: a Docker daemon may answer on the test machine.
 */
import { execa, type Options, type Result } from 'execa';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
const binary = join(repoRoot, 'bin', 'msctl.js');

export function msctl(args: string[], options: Options = {}): Promise<Result> {
  return execa(process.execPath, [binary, ...args], { reject: false, timeout: 240_000, ...options, env: { NO_COLOR: '1', MSCTL_RUNTIME: 'local', ...options.env } }) as Promise<Result>;
}
