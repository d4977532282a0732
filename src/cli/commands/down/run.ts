import { ProgressBus } from '../../../core/events';
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { DownOptions } from './command';

export async function run(options: DownOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    const result = await (await openRuntime(project)).down({ volumes: options.volumes }, bus);
    const stopped = result.stopped.length > 0 ? `stopped ${result.stopped.join(', ')}` : 'nothing was running';
    const data = result.dataRemoved ? '; data deleted' : '; data kept (msctl down -v deletes it)';
    bus.emit({ type: 'done', ok: true, text: `${stopped}${data}` });
  } finally {
    await renderer.close();
  }
}
