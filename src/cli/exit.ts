/**
 * The one exit handler: maps any error a command ends with to what the user sees and the
 * process exit code.
 *   MsctlError     → `error: <message>` + `hint: <hint>` on stderr; exitCodeFor (usage 2, interrupted 130, else 1)
 *   commander      → its message was already printed; usage errors exit 2 (help/version exit 0)
 *   anything else  → `error: <message>` + "run with --verbose for details" (the stack only with --verbose); exit 1
 * With --json the error is also printed on stdout as one line {"error":{"code","message","hint"}}.
 */
import { CommanderError } from 'commander';
import { EXIT_CODES, MsctlError, exitCodeFor, isMsctlError } from '../core/errors';
import { makeChalk } from '../ui/colors';
import type { TextOut } from './output/renderer';

export interface ExitIo {
  stdout: TextOut;
  stderr: TextOut;
  json: boolean;
  verbose: boolean;
  color: boolean;
}

export interface JsonError {
  error: { code: string; message: string; hint?: string };
}

const isCommanderError = (error: unknown): error is CommanderError =>
  error instanceof CommanderError || (error instanceof Error && typeof (error as CommanderError).code === 'string' && (error as CommanderError).code.startsWith('commander.'));

/** Exit code of a commander outcome: help and version are fine, every other one is a usage error. */
function commanderExitCode(error: CommanderError): number {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) return EXIT_CODES.ok;
  return EXIT_CODES.usage;
}

function causeChain(error: unknown): string[] {
  const lines: string[] = [];
  let cause = (error as { cause?: unknown } | undefined)?.cause;
  for (let depth = 0; cause !== undefined && depth < 5; depth++) {
    lines.push(`caused by: ${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}`);
    cause = (cause as { cause?: unknown }).cause;
  }
  return lines;
}

/** Prints the error the way the user should see it and returns the exit code. */
export function handleError(error: unknown, io: ExitIo): number {
  const c = makeChalk(io.color);
  const writeJson = (body: JsonError) => io.json && io.stdout.write(`${JSON.stringify(body)}\n`);

  if (isCommanderError(error)) {
    const code = commanderExitCode(error);
    if (code !== EXIT_CODES.ok) writeJson({ error: { code: 'USAGE', message: error.message.replace(/^error:\s*/, '') } });
    return code;
  }

  if (isMsctlError(error)) {
    if (error.code === 'INTERRUPTED' && !io.verbose) {
      // The user asked for it: no "error:", no hint.
      io.stderr.write(`${c.yellow(error.message)}\n`);
      writeJson({ error: { code: error.code, message: error.message } });
      return exitCodeFor(error);
    }
    io.stderr.write(`${c.red.bold('error:')} ${error.message}\n`);
    if (error.hint) io.stderr.write(`${c.cyan('hint:')} ${error.hint}\n`);
    if (io.verbose) {
      if (error.stack) io.stderr.write(`${c.dim(error.stack)}\n`);
      for (const line of causeChain(error)) io.stderr.write(`${c.dim(line)}\n`);
    }
    writeJson({ error: { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) } });
    return exitCodeFor(error);
  }

  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`${c.red.bold('error:')} ${message}\n`);
  if (io.verbose) {
    if (error instanceof Error && error.stack) io.stderr.write(`${c.dim(error.stack)}\n`);
    for (const line of causeChain(error)) io.stderr.write(`${c.dim(line)}\n`);
  } else {
    io.stderr.write(`${c.dim('run with --verbose for details')}\n`);
  }
  writeJson({ error: { code: 'INTERNAL', message } });
  return EXIT_CODES.failure;
}

export interface InterruptOptions {
  /** How long a command may take to wind down after the first signal; then the process exits. Default 5 s. */
  graceMs?: number;
  /** For tests: what "exit the process" means. */
  exit?: (code: number) => void;
  signals?: NodeJS.Signals[];
}

export interface InterruptHandle {
  signal: AbortSignal;
  /** The signal received, if any. */
  readonly received: NodeJS.Signals | undefined;
  /** Removes the signal handlers. */
  dispose(): void;
}

/** Exit code of a process ended by a signal: 130 for SIGINT, 143 for SIGTERM. */
export const signalExitCode = (signal: NodeJS.Signals | undefined): number => (signal === 'SIGTERM' ? 143 : EXIT_CODES.interrupted);

/**
 * SIGINT/SIGTERM abort the command's AbortSignal; a command that has not finished `graceMs`
 * later (or a second signal) ends the process with 130 (143 for SIGTERM).
 */
export function installInterruptHandler(options: InterruptOptions = {}): InterruptHandle {
  const controller = new AbortController();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received) {
      exit(signalExitCode(received));
      return;
    }
    received = signal;
    controller.abort(new MsctlError('INTERRUPTED', `interrupted (${signal})`));
    setTimeout(() => exit(signalExitCode(signal)), options.graceMs ?? 5_000).unref();
  };
  for (const signal of signals) process.on(signal, onSignal);
  return {
    signal: controller.signal,
    get received() {
      return received;
    },
    dispose: () => {
      for (const signal of signals) process.off(signal, onSignal);
    },
  };
}
