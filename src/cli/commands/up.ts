import { MsctlError, EXIT_CODES, isMsctlError } from '../../core/errors';
import { ProgressBus } from '../../core/events';
import { attachLocal, cleanUpStale, downLocal, observe, upLocal } from '../../runtime/local/runtime';
import { buildStale } from '../../stack/build';
import { describePlan, planUp } from '../../stack/plan';
import { loadProject } from '../../stack/project';
import type { CliContext, UpOptions } from '../context';

export async function run(options: UpOptions, context: CliContext): Promise<number | void> {
  if (options.runtime === 'docker') {
    throw new MsctlError('USAGE', 'the docker runtime is not part of this version of msctl yet', 'use the embedded default: msctl up (or --runtime local)');
  }
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) {
    throw new MsctlError('USAGE', `--timeout ${options.timeout} is not a number of seconds`, 'e.g. --timeout 120');
  }
  const project = await loadProject(context.projectDir);
  for (const name of options.services) project.graph.node(name);
  const observation = await observe(project);
  const plan = planUp(project.graph, options.services, observation.targets);

  if (options.dryRun) {
    if (context.json) context.stdout.write(`${JSON.stringify({ runtime: 'local', supervisor: observation.supervisor, plan })}\n`);
    else {
      if (observation.supervisor === 'stale') context.stdout.write('note: the previous supervisor is gone; its leftovers would be stopped first\n');
      context.stdout.write(`${describePlan(plan).join('\n')}\n`);
    }
    return EXIT_CODES.ok;
  }

  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    await cleanUpStale(project, observation, bus);
    const toStart = plan.steps.filter((step) => step.action === 'start');
    if (toStart.length === 0) {
      bus.emit({ type: 'message', level: 'info', text: `already running: ${plan.steps.map((step) => step.target).join(', ')}` });
    } else {
      const services = project.manifests.filter((manifest) => toStart.some((step) => step.target === manifest.name));
      await buildStale(services, project.servicesDir, bus);
      await upLocal(project, plan, { timeoutSeconds: options.timeout, signal: context.signal, logs: !options.detach }, bus);
      const gateway = project.manifests.find((manifest) => manifest.gateway && plan.steps.some((step) => step.target === manifest.name));
      bus.emit({
        type: 'done',
        ok: true,
        text: `healthy: ${plan.steps.map((step) => step.target).join(', ')}${gateway ? ` — API at http://127.0.0.1:${gateway.port}/api` : ''}`,
      });
    }
    if (options.detach) return EXIT_CODES.ok;
    bus.emit({ type: 'message', level: 'info', text: 'attached: logs of every service follow; Ctrl-C stops the stack (msctl up -d leaves it running)' });
    await attachLocal(project, bus, context.signal);
    throw new MsctlError('INTERRUPTED', 'interrupted');
  } catch (error) {
    const interrupted = context.signal.aborted || (isMsctlError(error) && error.code === 'INTERRUPTED');
    if (interrupted && !options.detach) {
      bus.emit({ type: 'message', level: 'info', text: 'stopping the stack…' });
      const result = await downLocal(project, { volumes: false }, bus);
      bus.emit({ type: 'done', ok: true, text: `stopped ${result.stopped.join(', ') || 'nothing'} (interrupted)` });
      return EXIT_CODES.interrupted;
    }
    if (interrupted) {
      await renderer.close();
      context.stderr.write('interrupted; the stack goes on starting in the background (msctl status to watch it, msctl down to stop it)\n');
      return EXIT_CODES.interrupted;
    }
    throw error;
  } finally {
    await renderer.close();
  }
}
