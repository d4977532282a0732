import { ProgressBus } from '../../../core/events';
import { runtimeForExisting, runtimeInUse } from '../../../runtime/select';
import { desiredReplicas, parseScaleArguments, saveReplicas } from '../../../stack/replicas';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ScaleOptions } from './command';

export async function run(options: ScaleOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const wanted = parseScaleArguments(project, options.targets);
  await saveReplicas(project, { ...desiredReplicas(project), ...wanted });
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    if (!runtimeInUse(project)) {
      bus.emit({ type: 'done', ok: true, text: `not running: ${Object.entries(wanted).map(([s, n]) => `${s}=${n}`).join(' ')} kept for the next msctl up` });
      return;
    }
    const docker = runtimeForExisting(project) === 'docker';
    for (const [service, replicas] of Object.entries(wanted)) {
      if (docker) await (await import('../../../runtime/docker/runtime')).scaleDocker(project, service, replicas, options.timeout, bus);
      else await (await import('../../../runtime/local/runtime')).scaleLocal(project, service, replicas, options.timeout, bus);
    }
    bus.emit({ type: 'done', ok: true, text: `scaled ${Object.entries(wanted).map(([s, n]) => `${s}=${n}`).join(' ')}` });
  } finally {
    await renderer.close();
  }
}
