/**
 * What a command folder (src/cli/commands/<name>/) holds: command.ts declares the command for
 * commander (arguments, flags, help, its Options type and how commander's parsed values become
 * them) and imports nothing heavy; run.ts does the work and is loaded only when the command runs.
 * main.ts calls each command.ts's register() with the action that loads its run.ts.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { DURATION_HINT, durationMs } from '../core/duration';
import type { CliContext } from './context';

/** A command's run.ts. A returned number is the exit code (default 0). */
export interface CommandModule<O> {
  run(options: O, context: CliContext): Promise<number | void>;
}

/**
 * commander's parsed values → the command's Options: `args` are the positional arguments in
 * order, `opts` the command's own option values (command.opts()).
 */
export type ToOptions<O> = (args: unknown[], opts: Record<string, unknown>) => O;

/** Makes the handler for a command's .action(): it converts what commander parsed, then runs the command. */
export type ActionFactory<O> = (toOptions: ToOptions<O>) => (...args: unknown[]) => Promise<void>;

/**
 * The global options, on the program and on every command (so they work before or after the command name).
 * --verbose has no -v: one letter means one thing across msctl, and -v is Compose's `down -v` (--volumes).
 */
export function withGlobalOptions(command: Command): Command {
  return command
    .option('--json', 'print machine-readable JSON (errors too, as {"error":{…}})')
    .option('--no-color', 'no colours (NO_COLOR=1 does the same)')
    .option('--verbose', 'more detail; stack traces on errors')
    .option('--project-dir <dir>', 'the project folder (default: found from the current folder upwards)');
}

export const positiveNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
  return n;
};

export const wholeNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a whole number ≥ 0`);
  return n;
};

/** A positive duration (30s, 2m, 1h30m; a bare number is seconds), as seconds. */
export const durationSeconds = (what: string) => (value: string) => {
  const ms = durationMs(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`${what} must be a positive duration, ${DURATION_HINT}`);
  return ms / 1000;
};
