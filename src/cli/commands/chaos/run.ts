import { runChaos, type ChaosAction } from '../../../chaos/chaos';
import { MsctlError } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ChaosOptions } from './command';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000 };

/** "15s", "500ms", "2m" or a number of seconds. */
export function parseDuration(text: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)(ms|s|m)?$/);
  if (!match) throw new MsctlError('USAGE', `--for ${text} is not a duration`, 'e.g. --for 15s, --for 500ms, --for 2m');
  const ms = Number(match[1]) * UNITS[match[2] ?? 's']!;
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
    const report = await runChaos(await openRuntime(project), { action: options.action as ChaosAction, target: options.target, forMs: parseDuration(options.for) }, bus, context.signal);
    if (context.json) context.stdout.write(`${JSON.stringify(report)}\n`);
    bus.emit({ type: 'done', ok: true, text: report.restoredBy === 'runtime' ? `${report.action} ${report.target}: done; the runtime brings it back` : `${report.action} ${report.target}: restored${report.interrupted ? ' early (interrupted)' : ''}` });
  } finally {
    await renderer.close();
  }
}
