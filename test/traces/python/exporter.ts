/**
 * Runs test/traces/python/export_spans.py (the official OpenTelemetry Python SDK, exporting OTLP/HTTP
 * protobuf) in the venv that `npm run setup` creates. A missing venv fails the test, never skips it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../support/cli';

/** Where scripts/setup.sh installs test/traces/python/requirements.txt. */
export const pythonVenv = join(repoRoot, '.cache', 'python-otel');

export interface PythonExport {
  exitCode: number;
  traceId?: string;
  /** Each export's SpanExportResult name (SUCCESS or FAILURE), as the SDK saw it. */
  results: string[];
  stderr: string;
}

/** The program's run with only the standard OTEL_* variables in `env`. */
export async function exportFromPython(env: Record<string, string>): Promise<PythonExport> {
  const python = join(pythonVenv, 'bin', 'python');
  if (!existsSync(python)) throw new Error(`no Python venv with the OpenTelemetry SDK at ${pythonVenv}: run \`npm run setup\``);
  const result = await execa(python, [join(repoRoot, 'test', 'traces', 'python', 'export_spans.py')], { reject: false, timeout: 60_000, extendEnv: false, env: { PATH: process.env.PATH ?? '', ...env } });
  const lastLine = String(result.stdout).trim().split('\n').pop() ?? '';
  const printed = lastLine.startsWith('{') ? (JSON.parse(lastLine) as { traceId: string; results: string[] }) : undefined;
  return { exitCode: result.exitCode ?? -1, traceId: printed?.traceId, results: printed?.results ?? [], stderr: String(result.stderr) };
}
