import { runChaos, type ChaosAction } from '../../../chaos/chaos';
import { parseDuration } from '../../../core/duration';
import { MsctlError } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ChaosOptions } from './command';

/** `--for`: a duration (15s, 500ms, 2m, a number of seconds) of at most one hour. */
export function chaosDuration(text: string): number {
  const ms = parseDuration(text, '--for');
  if (ms <= 0 || ms > 3_600_000) throw new MsctlError('USAGE', `--for ${text} is out of range`, 'from a few milliseconds to one hour');
  return ms;
}

export async function run(options: ChaosOptions, context: CliContext): Promise<number | void> {
  if (!['kill', 'stop', 'pause'].includes(options.action)) {
    throw new MsctlError('USAGE', `${options.action} is not a chaos action`, 'use kill, stop or pause');
  }
  const project = await loadProject(context.projectDir);
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    const report = await runChaos(await openRuntime(project), { action: options.action as ChaosAction, target: options.target, forMs: chaosDuration(options.for) }, bus, context.signal);
    if (context.json) context.stdout.write(`${JSON.stringify(report)}\n`);
    bus.emit({ type: 'done', ok: true, text: report.restoredBy === 'runtime' ? `${report.action} ${report.target}: done; the runtime brings it back` : `${report.action} ${report.target}: restored${report.interrupted ? ' early (interrupted)' : ''}` });
  } finally {
    await renderer.close();
  }
}
