import { MsctlError, EXIT_CODES, isMsctlError } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { openRuntime } from '../../../runtime/select';
import { planStart, startStack } from '../../../runtime/start';
import { describePlan, stepsToRun } from '../../../stack/plan';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { UpOptions } from './command';

export async function run(options: UpOptions, context: CliContext): Promise<number | void> {
  if (!Number.isFinite(options.timeout) || options.timeout <= 0) {
    throw new MsctlError('USAGE', `--timeout ${options.timeout} is not a number of seconds`, 'e.g. --timeout 120');
  }
  if (options.watch) {
    if (options.detach || options.dryRun) throw new MsctlError('USAGE', `--watch cannot go with ${options.detach ? '--detach' : '--dry-run'}: it keeps running to reload what you save`, 'msctl up --watch, or msctl dev (which leaves the stack running when it stops)');
    const dev = await import('../dev/run');
    return dev.run({ services: options.services, runtime: options.runtime, timeout: options.timeout, offline: options.offline, typecheck: true, stopOnExit: true }, context);
  }
  const project = await loadProject(context.projectDir);
  for (const name of options.services) project.graph.node(name);
  const runtime = await openRuntime(project, options.runtime);
  const kind = runtime.kind;
  const { plan, note } = await planStart(runtime, project, options.services);

  if (options.dryRun) {
    if (context.json) context.stdout.write(`${JSON.stringify({ runtime: kind, plan })}\n`);
    else {
      if (note) context.stdout.write(`note: ${note}\n`);
      context.stdout.write(`runtime: ${kind}\n${describePlan(plan).join('\n')}\n`);
    }
    return EXIT_CODES.ok;
  }

  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  let dashboardShown = false;
  try {
    if (stepsToRun(plan).length === 0) {
      bus.emit({ type: 'message', level: 'info', text: `already running (${kind} runtime): ${plan.steps.map((step) => step.target).join(', ')}` });
    }
    const { started } = await startStack(runtime, project, plan, { timeoutSeconds: options.timeout, signal: context.signal, logs: !options.detach, offline: options.offline }, bus);
    if (started) {
      const gateway = project.manifests.find((manifest) => manifest.gateway && plan.steps.some((step) => step.target === manifest.name));
      bus.emit({
        type: 'done',
        ok: true,
        text: `healthy on the ${kind} runtime: ${plan.steps.map((step) => step.target).join(', ')}${gateway ? ` — API at http://127.0.0.1:${gateway.port}/api` : ''}`,
      });
    }
    if (options.detach) return EXIT_CODES.ok;
    if (context.isTTY && !context.json && process.stdin.isTTY) {
      // On a terminal the live dashboard takes over; its `l` pane keeps the logs at hand.
      await renderer.close();
      dashboardShown = true;
      const { runDashboard } = await import('../../../dashboard/run');
      const reason = await runDashboard(project, runtime, context, { signal: context.signal });
      if (reason === 'quit') {
        const stopping = new ProgressBus();
        const plain = context.renderer();
        plain.attach(stopping);
        const result = await runtime.down({ volumes: false }, stopping);
        stopping.emit({ type: 'done', ok: true, text: `stopped ${result.stopped.join(', ')}` });
        await plain.close();
        return EXIT_CODES.ok;
      }
      throw new MsctlError('INTERRUPTED', 'interrupted');
    }
    bus.emit({ type: 'message', level: 'info', text: 'attached: logs of every service follow; Ctrl-C stops the stack (msctl up -d leaves it running)' });
    await runtime.attach(bus, context.signal);
    throw new MsctlError('INTERRUPTED', 'interrupted');
  } catch (error) {
    const interrupted = context.signal.aborted || (isMsctlError(error) && error.code === 'INTERRUPTED');
    if (interrupted && !options.detach) {
      // The dashboard had the terminal: show the shutdown with a renderer of its own.
      const shutdownRenderer = dashboardShown ? context.renderer() : undefined;
      shutdownRenderer?.attach(bus);
      bus.emit({ type: 'message', level: 'info', text: 'stopping the stack…' });
      const result = await runtime.down({ volumes: false }, bus);
      bus.emit({ type: 'done', ok: true, text: `stopped ${result.stopped.join(', ') || 'nothing'} (interrupted)` });
      await shutdownRenderer?.close();
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
