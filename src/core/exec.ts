/**
 * Runs a program to its end and returns what it printed: the Java probe, the Kafka storage
 * format and the Maven fetch, all on the supervisor's path. node:child_process rather than
 * execa there, which loaded the worker machinery with it: 6.5 MB of the supervisor's RSS for
 * three calls that need none of execa's features.
 */
import { execFile } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** Why a run failed: `code` ('ENOENT' when the program is missing, else its exit code) and its output. */
export interface RunError extends Error {
  code?: string | number;
  /** stderr, then stdout. */
  output: string;
}

/** stderr then stdout of a run that exited 0; a RunError otherwise. */
export function runToEnd(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env && { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 0, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const output = [stderr, stdout].filter((text) => text.length > 0).join('\n');
        if (error) return reject(Object.assign(error, { output }));
        resolve(output);
      },
    );
  });
}
