import { ProgressBus } from '../../core/events';
import { downLocal } from '../../runtime/local/runtime';
import { loadProject } from '../../stack/project';
import type { CliContext, DownOptions } from '../context';

export async function run(options: DownOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    const result = await downLocal(project, { volumes: options.volumes }, bus);
    const stopped = result.stopped.length > 0 ? `stopped ${result.stopped.join(', ')}` : 'nothing was running';
    const data = result.dataRemoved ? '; data deleted' : '; data kept (msctl down -v deletes it)';
    bus.emit({ type: 'done', ok: true, text: `${stopped}${data}` });
  } finally {
    await renderer.close();
  }
}
