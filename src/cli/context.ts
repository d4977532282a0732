/**
 * What every command gets besides its own options: the global flags, the streams, an
 * AbortSignal that SIGINT/SIGTERM abort, and the progress renderer that fits the output
 * (JSON lines with --json, the ink view on a TTY, plain lines otherwise).
 */
import type { ProgressBus, ProgressEvent } from '../core/events';
import { createJsonRenderer } from './output/json';
import { createPlainRenderer } from './output/plain';
import type { ProgressRenderer } from './output/renderer';

export type { ProgressRenderer } from './output/renderer';

export interface CliContext {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  isTTY: boolean;
  /** Aborted on SIGINT/SIGTERM; the reason is MsctlError('INTERRUPTED'). */
  signal: AbortSignal;
  /** A new renderer for progress events: json | tty | plain. Close it when the work is over. */
  renderer(): ProgressRenderer;
}

export interface ContextInit {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
  signal: AbortSignal;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
  env?: NodeJS.ProcessEnv;
}

/**
 * The TTY renderer lives in a chunk of its own (ink, React): it is imported on first use and
 * the events that arrive meanwhile are queued.
 */
function lazyTtyRenderer(stdout: NodeJS.WriteStream, stderr: NodeJS.WriteStream, color: boolean): ProgressRenderer {
  const queued: ProgressEvent[] = [];
  let real: ProgressRenderer | undefined;
  const ready = import('./output/tty').then(
    ({ createTtyRenderer }) => {
      real = createTtyRenderer({ stdout, stderr, color });
      for (const event of queued.splice(0)) real.render(event);
      return real;
    },
    () => {
      // ink cannot load (a broken install): plain lines still work.
      real = createPlainRenderer({ out: stdout, color });
      for (const event of queued.splice(0)) real.render(event);
      return real;
    },
  );
  const render = (event: ProgressEvent) => (real ? real.render(event) : void queued.push(event));
  return {
    kind: 'tty',
    attach: (bus: ProgressBus) => bus.subscribe(render),
    render,
    close: async () => (await ready).close(),
  };
}

export function createContext(init: ContextInit): CliContext {
  const stdout = init.stdout ?? process.stdout;
  const stderr = init.stderr ?? process.stderr;
  const env = init.env ?? process.env;
  const isTTY = stdout.isTTY === true;
  return {
    json: init.json,
    color: init.color,
    verbose: init.verbose,
    projectDir: init.projectDir,
    stdout,
    stderr,
    isTTY,
    signal: init.signal,
    renderer: () => {
      if (init.json) return createJsonRenderer({ out: stdout });
      if (isTTY && env.TERM !== 'dumb') return lazyTtyRenderer(stdout, stderr, init.color);
      return createPlainRenderer({ out: stdout, color: init.color });
    },
  };
}
