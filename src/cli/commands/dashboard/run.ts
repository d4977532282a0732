/**
 * `msctl dashboard`: the live view of the stack on a terminal (ink), or snapshots as JSON
 * lines with --json (off a terminal too). Off a terminal without --json it says where to go.
 */
import { EXIT_CODES, MsctlError } from '../../../core/errors';
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { DashboardOptions } from './command';

export async function run(options: DashboardOptions, context: CliContext): Promise<number | void> {
  const intervalMs = Math.round(options.interval * 1000);
  if (!context.json && (!context.isTTY || process.env.TERM === 'dumb')) {
    throw new MsctlError('USAGE', 'msctl dashboard needs a terminal; for plain lines use `msctl status --watch`, for JSON lines `msctl dashboard --json`');
  }
  const project = await loadProject(context.projectDir);
  const runtime = await openRuntime(project);
  const { runDashboard, streamDashboardJson } = await import('../../../dashboard/run');
  if (context.json) {
    await streamDashboardJson(project, runtime, context, { intervalMs });
    return;
  }
  const reason = await runDashboard(project, runtime, context, { intervalMs });
  return reason === 'interrupted' ? EXIT_CODES.interrupted : EXIT_CODES.ok;
}
