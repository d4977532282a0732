import { ProgressBus } from '../../../core/events';
import { runtimeForExisting } from '../../../runtime/select';
import { buildStale } from '../../../stack/build';
import { loadProject, manifestOf } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { RestartOptions } from './command';

export async function run(options: RestartOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  project.graph.node(options.service);
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    if (runtimeForExisting(project) === 'docker') {
      await (await import('../../../runtime/docker/runtime')).restartDocker(project, options.service, 90, bus);
    } else {
      const manifest = manifestOf(project, options.service);
      // A restart picks up code changes: rebuild first if the sources changed.
      if (manifest) await buildStale([manifest], project.servicesDir, bus);
      await (await import('../../../runtime/local/runtime')).restartLocal(project, options.service, 90, bus);
    }
    bus.emit({ type: 'done', ok: true, text: `${options.service} restarted and healthy` });
  } finally {
    await renderer.close();
  }
}
