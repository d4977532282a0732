/**
 * `msctl exec <service> -- <command…>`: the runtime runs the command with the service's
 * environment (Runtime.exec), on this terminal; msctl exits with the command's exit code.
 */
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import { serviceOfTarget } from '../../../stack/service-env';
import type { CliContext } from '../../context';
import type { ExecOptions } from './command';

export async function run(options: ExecOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  serviceOfTarget(project, options.target);
  const runtime = await openRuntime(project);
  return runtime.exec(options.target, { command: options.command, tty: Boolean(process.stdin.isTTY) && context.isTTY });
}
