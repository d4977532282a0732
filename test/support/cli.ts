/**
 * Runs the built msctl binary the way a user does: `node bin/msctl.js …`. Tests run the local
 * runtime unless they pass --runtime docker: a Docker daemon may answer on the test machine.
 */
import { execa, type Options, type Result } from 'execa';
import { expect } from 'vitest';
import type { StackStatus } from '../../src/runtime/types';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '..', '..');
const binary = join(repoRoot, 'bin', 'msctl.js');

export function msctl(args: string[], options: Options = {}): Promise<Result> {
  return execa(process.execPath, [binary, ...args], { reject: false, timeout: 240_000, ...options, env: { NO_COLOR: '1', MSCTL_RUNTIME: 'local', ...options.env } }) as Promise<Result>;
}

/** `msctl status --json` of a project, which must succeed. */
export async function statusOf(project: string, env: Record<string, string>): Promise<StackStatus> {
  const result = await msctl(['status', '--json', '--project-dir', project], { env });
  expect(result.exitCode, String(result.stderr)).toBe(0);
  return JSON.parse(String(result.stdout)) as StackStatus;
}

/** A service client's token with `scopes` (`msctl token --client`), for the project at `project`. */
export async function clientToken(project: string, env: Record<string, string>, client: string, scopes: string[]): Promise<string> {
  const result = await msctl(['token', '--client', client, ...scopes.flatMap((scope) => ['--scope', scope]), '--json', '--project-dir', project], { env });
  if (result.exitCode !== 0) throw new Error(`msctl token failed: ${String(result.stderr)}`);
  return (JSON.parse(String(result.stdout)) as { accessToken: string }).accessToken;
}
