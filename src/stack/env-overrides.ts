/**
 * A developer's own settings for one service, kept out of git: `services/<name>/.env` and
 * `.msctl/env/<name>.env`, in dotenv format (KEY=VALUE, `#` comments, quotes, `export KEY=…`),
 * parsed by Node's own util.parseEnv. The second file wins over the first. Both runtimes apply
 * them on top of serviceEnvironment (runtimeEnvironment in ./service-env); the exports leave
 * them out, so what is shared never carries one developer's settings.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { MsctlError } from '../core/errors';
import type { ServiceManifest } from './manifest';
import type { Project } from './project';

/**
 * What the runtime itself needs to reach and name the service: its health checks, published
 * ports and the gateway's routing table use them, so they are set in service.json, not here.
 */
export const RESERVED_KEYS = ['SERVICE_NAME', 'HOST', 'PORT'] as const;

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface EnvOverrides {
  values: Record<string, string>;
  /** Each overridden key → the file that set it (the last one, when both do). */
  sources: Record<string, string>;
}

/** The override files of `service`, weakest first. */
export function envOverrideFiles(project: Project, manifest: ServiceManifest): string[] {
  return [join(manifest.dir, '.env'), join(project.stateDir, 'env', `${manifest.name}.env`)];
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new MsctlError('STATE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, 'fix its owner or mode, or remove it');
  }
}

/** Checks one file's parsed keys; pure. */
export function checkOverrides(file: string, parsed: Record<string, string | undefined>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (!KEY.test(key)) throw new MsctlError('USAGE', `${file}: "${key}" is not an environment variable name`, 'use letters, digits and "_", not starting with a digit');
    if ((RESERVED_KEYS as readonly string[]).includes(key)) {
      throw new MsctlError('USAGE', `${file} sets ${key}, which the runtime decides`, `remove it from ${file}; a service's port is "port" in its service.json`);
    }
    if (value !== undefined) values[key] = value;
  }
  return values;
}

/** `service`'s overrides as they are on disk now (read afresh, so `msctl restart` applies an edit). */
export function readEnvOverrides(project: Project, manifest: ServiceManifest): EnvOverrides {
  const result: EnvOverrides = { values: {}, sources: {} };
  for (const file of envOverrideFiles(project, manifest)) {
    const text = readOptional(file);
    if (text === undefined) continue;
    for (const [key, value] of Object.entries(checkOverrides(file, parseEnv(text)))) {
      result.values[key] = value;
      result.sources[key] = file;
    }
  }
  return result;
}
