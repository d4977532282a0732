/**
 * The built msctl on a pseudo-terminal, as a user at a terminal runs it: util-linux's script(1)
 * gives it one for stdin and stdout, and exits with its exit code.
 */
import { execa, type Result } from 'execa';
import { join } from 'node:path';
import { repoRoot } from './cli';

const quoted = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

export function msctlOnTerminal(args: string[], env: Record<string, string>): Promise<Result> {
  const line = [process.execPath, join(repoRoot, 'bin', 'msctl.js'), ...args].map(quoted).join(' ');
  return execa('script', ['--quiet', '--return', '--command', line, '/dev/null'], { reject: false, timeout: 120_000, env: { NO_COLOR: '1', MSCTL_RUNTIME: 'local', ...env } }) as Promise<Result>;
}
