/**
 * `msctl dev`: starts the stack as `up` does, then reloads each service whose files are saved
 * (src/dev/loop.ts). Events print as lines (JSON lines with --json); the runtime's restart is
 * blue-green, so a reload fails no request.
 */
import { EXIT_CODES } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { Bundler, TypeChecker } from '../../../dev/build';
import { DevBoard, devEventJson, formatDevEvent } from '../../../dev/format';
import { type DevEvent, runDevLoop } from '../../../dev/loop';
import { watchSources } from '../../../dev/watch';
import { openRuntime } from '../../../runtime/select';
import { planStart, startStack } from '../../../runtime/start';
import { loadProject } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { DevOptions } from './command';

export async function run(options: DevOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  for (const name of options.services) project.graph.node(name);
  const runtime = await openRuntime(project, options.runtime);
  const { plan } = await planStart(runtime, project, options.services);

  const bus = new ProgressBus();
  const renderer = context.renderer();
  renderer.attach(bus);
  try {
    await startStack(runtime, project, plan, { timeoutSeconds: options.timeout, signal: context.signal, logs: false, offline: options.offline }, bus);
    bus.emit({ type: 'done', ok: true, text: `healthy on the ${runtime.kind} runtime` });
  } finally {
    await renderer.close();
  }

  const watched = project.manifests.filter((manifest) => plan.steps.some((step) => step.target === manifest.name)).map((manifest) => manifest.name);
  const width = Math.max(...watched.map((name) => name.length));
  // On a terminal the dashboard takes the screen, with a line per watched service; off one, lines.
  const onScreen = context.isTTY && !context.json && process.stdin.isTTY === true;
  const board = new DevBoard(watched);
  const emit = (event: DevEvent) => {
    if (onScreen) board.apply(event);
    else context.stdout.write(context.json ? `${devEventJson(event)}\n` : formatDevEvent(event, context.color, width));
  };
  // The loop ends with Ctrl-C, or when the dashboard is closed.
  const stop = new AbortController();
  const signal = AbortSignal.any([context.signal, stop.signal]);
  // The dashboard draws its own colours: the compilers' would garble its lines.
  const buildOptions = { color: context.color && !context.json && !onScreen };
  const bundler = new Bundler(buildOptions);
  const checker = new TypeChecker(project, buildOptions);
  const typecheck = options.typecheck && checker.available();
  emit({ type: 'watching', services: watched, typecheck });
  // The restarts' own progress (phases of the new instance) is the runtime's business: quiet here.
  const quiet = new ProgressBus();
  const screen = onScreen
    ? import('../../../dashboard/run').then(async ({ runDashboard }) => {
        await runDashboard(project, runtime, context, { signal, builds: board });
        stop.abort();
      })
    : Promise.resolve();
  try {
    await runDevLoop({
      project,
      services: watched,
      watch: (onPaths) => watchSources(project, watched, onPaths),
      bundle: (manifest) => bundler.build(manifest),
      typecheck: (manifest) => (typecheck ? checker.check(manifest) : Promise.resolve({ ok: true, ms: 0 })),
      // The bundle is built: docker copies it into the new container rather than building an image.
      restart: (service) => runtime.restart(service, quiet, { timeoutSeconds: options.timeout, bundleOnly: true }),
      reloadProject: () => loadProject(project.root),
      emit,
      signal,
    });
    await screen;
  } finally {
    await bundler.dispose();
  }
  // Ctrl-C is 130, as for every command; `q` in the dashboard is a plain end.
  const exitCode = context.signal.aborted ? EXIT_CODES.interrupted : EXIT_CODES.ok;
  if (!options.stopOnExit) {
    context.stderr.write('stopped watching; the stack keeps running (msctl down stops it)\n');
    return exitCode;
  }
  const stopping = new ProgressBus();
  const plain = context.renderer();
  plain.attach(stopping);
  const result = await runtime.down({ volumes: false }, stopping);
  stopping.emit({ type: 'done', ok: true, text: `stopped ${result.stopped.join(', ') || 'nothing'} (interrupted)` });
  await plain.close();
  return exitCode;
}
