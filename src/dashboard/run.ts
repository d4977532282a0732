/**
 * Runs the dashboard for a project: the poller wired to the real stack (the runtime’s status, fetch,
 * Kafka), and either the ink view on a terminal (runDashboard) or JSON lines
 * (streamDashboardJson). `msctl dashboard` calls these; so can `msctl up` once healthy.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { type LogPart, logLineParts } from '../ui/log-line';
import { isMsctlError } from '../core/errors';
import { sleep } from '../core/sleep';
import { watchKafkaOffsets } from '../infra/kafka/client';
import type { ProgressSink } from '../core/events';
import type { Runtime } from '../runtime/runtime';
import type { Project } from '../stack/project';
import { findTrace, listSegments, readSpans } from '../traces/store';
import type { BuildSource, LogSource } from './app';
import { keepAliveGet } from '../core/http';
import { DashboardPoller } from './poller';
import { RecentTraces, type TraceFiles } from './traces';

export interface DashboardRunOptions {
  /** Aborting it closes the dashboard (as Ctrl-C does). */
  signal?: AbortSignal;
  /** Poll period in ms (default 1000); Kafka is read every max(2000, 2 × interval). */
  intervalMs?: number;
  /** `msctl dev`: a line per watched service, above the recent changes. */
  builds?: BuildSource;
}

export type DashboardExit = 'quit' | 'interrupted' | 'aborted';

/** The trace store's segments on disk, read by byte range. */
export function traceFiles(dir: string): TraceFiles {
  return {
    list: () => listSegments(dir),
    read: async (file, position, length) => {
      const handle = await open(file, 'r');
      try {
        const buffer = Buffer.alloc(length);
        const { bytesRead } = await handle.read(buffer, 0, length, position);
        return buffer.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    },
  };
}

export function createProjectPoller(project: Project, runtime: Runtime, intervalMs = 1_000): { poller: DashboardPoller; close: () => Promise<void> } {
  const kafka = watchKafkaOffsets(`127.0.0.1:${project.infrastructure.kafkaPort}`);
  const fetch = keepAliveGet();
  const traces = new RecentTraces(traceFiles(join(project.stateDir, 'traces')));
  const poller = new DashboardPoller({
    status: () => runtime.status(),
    fetch,
    kafka,
    intervalMs,
    kafkaIntervalMs: Math.max(2_000, 2 * intervalMs),
    healthPaths: Object.fromEntries(project.manifests.map((m) => [m.name, m.healthPath])),
    traces: () => traces.refresh(Date.now()),
  });
  return {
    poller,
    close: async () => {
      poller.stop();
      fetch.close();
      await kafka.close();
    },
  };
}

/**
 * ink, React and the view, loaded with NODE_ENV=production unless it says otherwise: React's
 * development build (the default when NODE_ENV is unset) re-checks every element and render,
 * several times the CPU of drawing a frame. NODE_ENV is restored once they are loaded, so what
 * the dashboard starts (a restart) does not inherit it. (In dist/dashboard.js, a file of its own
 * with React in it, the build has fixed it already.) React comes through the app's module only:
 * a CommonJS package imported dynamically from a bundle has no named exports.
 */
async function loadInk() {
  const before = process.env.NODE_ENV;
  process.env.NODE_ENV ??= 'production';
  try {
    const [{ render }, { dashboardElement }] = await Promise.all([import('ink'), import('./app')]);
    return { render, dashboardElement };
  } finally {
    if (before === undefined) delete process.env.NODE_ENV;
  }
}

/** Reads a target's last `tail` lines, then calls onLines with new ones until the signal aborts. */
export type LogReader = (target: string, tail: number, onLines: (lines: string[], replace: boolean) => void, signal: AbortSignal) => Promise<void>;

/** A target's log as its runtime keeps it, followed. */
export function runtimeLogReader(runtime: Runtime): LogReader {
  return (target, tail, onLines, signal) =>
    runtime.logs(
      { targets: [target], tail, follow: true, signal },
      { snapshot: (lines) => onLines(lines.map((line) => line.text), true), line: (line) => onLines([line.text], false) },
    );
}

/** The last lines of one target's log, followed as it grows, as the parts the pane draws. */
export class LogFeed implements LogSource {
  private lines: ReadonlyArray<readonly LogPart[]> = [];
  private readonly listeners = new Set<() => void>();
  private current: { target: string; abort: AbortController } | undefined;

  constructor(
    private readonly reader: LogReader,
    private readonly keep = 300,
  ) {}

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getLines = (): ReadonlyArray<readonly LogPart[]> => this.lines;

  follow = (target: string | null): void => {
    if (this.current?.target === target) return;
    this.current?.abort.abort();
    this.current = undefined;
    this.set([]);
    if (target === null) return;
    const abort = new AbortController();
    this.current = { target, abort };
    void this.read(target, abort.signal).catch(() => undefined);
  };

  close(): void {
    this.follow(null);
  }

  private set(lines: ReadonlyArray<readonly LogPart[]>): void {
    this.lines = lines;
    for (const listener of this.listeners) listener();
  }

  private async read(target: string, signal: AbortSignal): Promise<void> {
    let pending: Array<readonly LogPart[]> = [];
    let flush: NodeJS.Timeout | undefined;
    try {
      await this.reader(
        target,
        this.keep,
        (lines, replace) => {
          if (signal.aborted) return;
          const shown = lines.map((text) => logLineParts(text));
          if (replace) return this.set(shown.slice(-this.keep));
          pending.push(...shown);
          // Many lines at once are one update.
          flush ??= setTimeout(() => {
            flush = undefined;
            if (signal.aborted) return;
            this.set([...this.lines, ...pending].slice(-this.keep));
            pending = [];
          }, 100);
        },
        signal,
      );
    } finally {
      clearTimeout(flush);
    }
  }
}

/** While the dashboard owns the screen, Node's warnings wait: they are printed once the terminal is restored. */
function holdWarnings(): () => void {
  const original = process.listeners('warning');
  const held: Error[] = [];
  process.removeAllListeners('warning');
  const hold = (warning: Error) => void held.push(warning);
  process.on('warning', hold);
  return () => {
    process.off('warning', hold);
    for (const listener of original) process.on('warning', listener);
    for (const warning of held) for (const listener of original) listener(warning);
  };
}

/** What the dashboard needs from whoever runs it (the CLI passes its context). */
export interface DashboardContext {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  color: boolean;
  /** Aborts on Ctrl-C. */
  signal: AbortSignal;
}

/**
 * The live dashboard on the terminal (alternate screen) until `q` (→ 'quit'), Ctrl-C
 * (→ 'interrupted') or the signal aborts (→ 'aborted'). The terminal is restored afterwards.
 */
export async function runDashboard(project: Project, runtime: Runtime, context: DashboardContext, options: DashboardRunOptions = {}): Promise<DashboardExit> {
  const { poller, close } = createProjectPoller(project, runtime, options.intervalMs);
  const logs = new LogFeed(runtimeLogReader(runtime));
  let resolveExit!: (reason: DashboardExit) => void;
  const exited = new Promise<DashboardExit>((resolve) => {
    resolveExit = resolve;
  });
  let restarting = false;
  const restart = (target: string) => {
    if (restarting) return poller.note(`restart ${target}: another restart is still running`);
    restarting = true;
    poller.note(`restart ${target}: requested`);
    const sink: ProgressSink = {
      emit: (event) => {
        if (event.type === 'message') poller.note(`restart ${target}: ${event.text}`);
      },
    };
    runtime
      .restart(target, sink)
      .then(
        () => poller.note(`restart ${target}: done`),
        (error: unknown) => poller.note(`restart ${target} failed: ${isMsctlError(error) || error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        restarting = false;
      });
  };
  const { render, dashboardElement } = await loadInk();
  const releaseWarnings = holdWarnings();
  // The alternate screen, from its top-left corner; the user's screen comes back on exit.
  context.stdout.write('\u001b[?1049h\u001b[H\u001b[2J');
  const abort = () => resolveExit('aborted');
  const signals = [context.signal, options.signal].filter((s): s is AbortSignal => s !== undefined);
  let instance: ReturnType<typeof render> | undefined;
  let reason: DashboardExit;
  try {
    const stdin = process.stdin;
    instance = render(
      dashboardElement({
        source: { subscribe: poller.subscribe, getSnapshot: poller.getSnapshot },
        logs,
        color: context.color,
        interactive: stdin.isTTY === true,
        onRestart: restart,
        // The segments written within the dashboard's trace window (and a little before it) hold the trace.
        loadTrace: async (traceId: string) => findTrace(await readSpans(join(project.stateDir, 'traces'), { since: Date.now() - 10 * 60_000 }), traceId).trace,
        onQuit: (why) => resolveExit(why),
        ...(options.builds ? { builds: options.builds } : {}),
      }),
      // A terminal is a terminal even where CI=true is set (ink would otherwise draw only the last frame).
      // Incremental: a frame rewrites only the lines that changed (the clock, a figure), not the screen.
      { stdout: context.stdout, stderr: context.stderr, stdin, exitOnCtrlC: false, patchConsole: true, maxFps: 10, interactive: context.stdout.isTTY === true, incrementalRendering: true },
    );
    for (const signal of signals) {
      if (signal.aborted) resolveExit('aborted');
      signal.addEventListener('abort', abort, { once: true });
    }
    poller.start();
    reason = await exited;
  } finally {
    for (const signal of signals) signal.removeEventListener('abort', abort);
    logs.close();
    if (instance) {
      instance.unmount();
      await instance.waitUntilExit().catch(() => undefined);
    }
    context.stdout.write('\u001b[?1049l');
    await close();
    releaseWarnings();
  }
  return reason;
}

/** Snapshots as JSON lines on stdout, one per interval, until the signal aborts. Works off a TTY. */
export async function streamDashboardJson(project: Project, runtime: Runtime, context: DashboardContext, options: DashboardRunOptions = {}): Promise<void> {
  const { poller, close } = createProjectPoller(project, runtime, options.intervalMs);
  const signal = options.signal ? AbortSignal.any([context.signal, options.signal]) : context.signal;
  try {
    while (!signal.aborted) {
      const started = Date.now();
      const snapshot = await poller.tick();
      if (signal.aborted) break;
      context.stdout.write(`${JSON.stringify(snapshot)}\n`);
      await sleep(Math.max(0, poller.intervalMs - (Date.now() - started)), signal);
    }
  } finally {
    await close();
  }
}
