/**
 * `msctl scale svc=N…`: the counts are kept for the next `up` when nothing runs; otherwise the
 * stack converges to them through the same plan as `up` (runtime/start.ts): the missing instances
 * start, surplus ones stop, and a gateway whose routing table changed is re-created.
 */
import { ProgressBus } from '../../../core/events';
import { scaleStack } from '../../../runtime/start';
import { openRuntime, runtimeInUse } from '../../../runtime/select';
import { desiredReplicas, parseScaleArguments, saveReplicas } from '../../../stack/replicas';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ScaleOptions } from './command';

export async function run(options: ScaleOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const wanted = parseScaleArguments(project, options.targets);
  const counts = Object.entries(wanted).map(([s, n]) => `${s}=${n}`).join(' ');
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    if (!runtimeInUse(project)) {
      await saveReplicas(project, { ...desiredReplicas(project), ...wanted });
      bus.emit({ type: 'done', ok: true, text: `not running: ${counts} kept for the next msctl up` });
      return;
    }
    await scaleStack(await openRuntime(project), project, wanted, { timeoutSeconds: options.timeout, signal: context.signal }, bus);
    bus.emit({ type: 'done', ok: true, text: `scaled ${counts}` });
  } finally {
    await renderer.close();
  }
}
