import { ProgressBus } from '../../../core/events';
import { openRuntime, runtimeInUse } from '../../../runtime/select';
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
    const runtime = await openRuntime(project);
    for (const [service, replicas] of Object.entries(wanted)) await runtime.scale(service, replicas, bus, { timeoutSeconds: options.timeout });
    bus.emit({ type: 'done', ok: true, text: `scaled ${Object.entries(wanted).map(([s, n]) => `${s}=${n}`).join(' ')}` });
  } finally {
    await renderer.close();
  }
}
