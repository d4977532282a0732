/**
 * `msctl env <service>`: the environment the runtime starts the service with (Runtime.environment:
 * serviceEnvironment with this runtime's addresses, then the developer's overrides), one
 * KEY=value a line, quoted for a POSIX shell; each overridden key says which file set it.
 */
import { relative } from 'node:path';
import { terminalSafe } from '../../../core/terminal-text';
import { openRuntime } from '../../../runtime/select';
import { readEnvOverrides } from '../../../stack/env-overrides';
import { loadProject } from '../../../stack/project';
import { ensureSecrets } from '../../../stack/secrets';
import { serviceOfTarget } from '../../../stack/service-env';
import { makeChalk } from '../../../ui/colors';
import type { CliContext } from '../../context';
import type { EnvOptions } from './command';
import { maskSecrets, secretValues } from './mask';

/** A value as a POSIX shell reads it back: bare when safe, else single-quoted. */
export const shellQuoted = (value: string) => (/^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);

export async function run(options: EnvOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const manifest = serviceOfTarget(project, options.target);
  const runtime = await openRuntime(project);
  const environment = await runtime.environment(options.target);
  const { sources } = readEnvOverrides(project, manifest);
  const overrides = Object.fromEntries(Object.entries(sources).map(([key, file]) => [key, relative(project.root, file)]));
  const { env, masked } = options.showSecrets ? { env: environment, masked: [] } : maskSecrets(environment, secretValues(project, await ensureSecrets(project.stateDir)));
  const keys = Object.keys(env).sort();
  if (context.json) {
    const sorted = Object.fromEntries(keys.map((key) => [key, env[key]!]));
    context.stdout.write(`${JSON.stringify({ service: options.target, runtime: runtime.kind, env: sorted, overrides, masked })}\n`);
    return;
  }
  const c = makeChalk(context.color);
  // Override files are anyone's text: on a terminal, no escape sequence of theirs is obeyed.
  const safe = (text: string) => (context.isTTY ? terminalSafe(text, { newlines: true }) : text);
  for (const key of keys) {
    const from = overrides[key] ? c.yellow(`  # override: ${overrides[key]}`) : '';
    context.stdout.write(`${key}=${safe(shellQuoted(env[key]!))}${from}\n`);
  }
  if (masked.length > 0 && context.isTTY) context.stderr.write(c.dim(`${masked.length} secret value(s) shown as ****: --show-secrets prints them\n`));
}
