/**
 * `msctl scale svc=N…`: records the counts (.msctl/replicas.json, which every later `up` honours),
 * then converges through the same plan as `up`: the missing instances start, surplus ones stop,
 * and a gateway whose routing table changed is re-created.
 */
import { MsctlError } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { openRuntime, runtimeInUse } from '../../../runtime/select';
import { isAlive, planUp } from '../../../stack/plan';
import { desiredReplicas, parseScaleArguments, saveReplicas, serviceOfInstance } from '../../../stack/replicas';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ScaleOptions } from './command';

export async function run(options: ScaleOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const wanted = parseScaleArguments(project, options.targets);
  await saveReplicas(project, { ...desiredReplicas(project), ...wanted });
  const counts = Object.entries(wanted).map(([s, n]) => `${s}=${n}`).join(' ');
  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    if (!runtimeInUse(project)) {
      bus.emit({ type: 'done', ok: true, text: `not running: ${counts} kept for the next msctl up` });
      return;
    }
    const runtime = await openRuntime(project);
    const observed = (await runtime.observe()).targets;
    const running = new Set([...observed.values()].filter(isAlive).map((target) => serviceOfInstance(target.name)));
    for (const service of Object.keys(wanted)) {
      if (!running.has(service)) throw new MsctlError('NOT_RUNNING', `${service} is not running`, `start it with \`msctl up ${service}\`; the new count is kept for it`);
    }
    // Every service that runs is in the plan, so what depends on the scaled ones (a gateway's routes) converges too.
    const plan = planUp(project.graph, [...running].filter((name) => project.graph.names.includes(name) && project.graph.node(name).kind === 'service'), observed, desiredReplicas(project));
    await runtime.up(plan, { timeoutSeconds: options.timeout, signal: context.signal }, bus);
    bus.emit({ type: 'done', ok: true, text: `scaled ${counts}` });
  } finally {
    await renderer.close();
  }
}
