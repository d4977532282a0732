/**
 * msctl's entry: runs the commander program (program.ts: its global flags and every command
 * registered from its commands/<name>/command.ts). A command's run.ts is imported inside its action, so `msctl --help`
 * and `--version` load none of ink, dockerode or kafkajs (the build keeps each command in a chunk
 * of its own). One exit handler (exit.ts) decides what an error looks like.
 */
import chalk from 'chalk';
import type { Command } from 'commander';
import { EXIT_CODES } from '../core/errors';
import type { ActionFactory, CommandModule } from './command';
import { createContext } from './context';
import { handleError, installInterruptHandler, signalExitCode } from './exit';
import { buildProgram } from './program';

interface GlobalFlags {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
}

const argv = process.argv.slice(2);
const beforeDashDash = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
const colorAllowed = (env: NodeJS.ProcessEnv) => !env.NO_COLOR && chalk.level > 0;

/** Before parsing succeeds (usage errors), the flags as far as they can be seen in argv. */
let flags: GlobalFlags = {
  json: beforeDashDash.includes('--json'),
  color: !beforeDashDash.includes('--no-color') && colorAllowed(process.env),
  verbose: beforeDashDash.includes('--verbose'),
  projectDir: undefined,
};
if (!flags.color) chalk.level = 0;

let exitCode: number = EXIT_CODES.ok;

/** The action factory of one command: its handler sets the global flags, converts the options, loads run.ts and runs it. */
function actionOf<O>(load: () => Promise<CommandModule<O>>): ActionFactory<O> {
  return (toOptions) => async (...args: unknown[]): Promise<void> => {
    const command = args.at(-1) as Command;
    const local = command.opts();
    const global = program.opts();
    flags = {
      json: Boolean(global.json || local.json),
      color: global.color !== false && local.color !== false && colorAllowed(process.env),
      verbose: Boolean(global.verbose || local.verbose),
      projectDir: (local.projectDir ?? global.projectDir) as string | undefined,
    };
    if (!flags.color) chalk.level = 0;
    const options = toOptions(args.slice(0, -2), local);
    const interrupt = installInterruptHandler();
    try {
      const context = createContext({ ...flags, signal: interrupt.signal });
      const module = await load();
      const code = (await module.run(options, context)) ?? EXIT_CODES.ok;
      // A command that wound down after Ctrl-C still ends as interrupted.
      exitCode = interrupt.received && code === EXIT_CODES.ok ? signalExitCode(interrupt.received) : code;
    } finally {
      interrupt.dispose();
    }
  };
}

const program = buildProgram(actionOf);

try {
  await program.parseAsync(argv, { from: 'user' });
} catch (error) {
  exitCode = handleError(error, { stdout: process.stdout, stderr: process.stderr, ...flags });
}
// Writes to a pipe are asynchronous: exiting now would cut a large --json document short.
// A write's callback runs once everything written before it is flushed (or the reader is gone).
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
process.exit(exitCode);
