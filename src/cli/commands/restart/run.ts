import { ProgressBus } from '../../../core/events';
import { openRuntime } from '../../../runtime/select';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { RestartOptions } from './command';

export async function run(options: RestartOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  project.graph.node(options.service);
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    await (await openRuntime(project)).restart(options.service, bus);
    bus.emit({ type: 'done', ok: true, text: `${options.service} restarted and healthy` });
  } finally {
    await renderer.close();
  }
}
