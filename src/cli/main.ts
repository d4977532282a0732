/**
 * msctl's entry: the commander program. Every command's module is imported inside its action,
 * so `msctl --help` and `--version` load none of ink, dockerode or kafkajs (the build keeps each
 * command in a chunk of its own). One exit handler (exit.ts) decides what an error looks like.
 */
import chalk from 'chalk';
import { Command, InvalidArgumentError, Option } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { EXIT_CODES } from '../core/errors';
import { createContext, type CliContext } from './context';
import { handleError, installInterruptHandler, signalExitCode } from './exit';

interface GlobalFlags {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
}

type Loaded = { run: (options: never, context: CliContext) => Promise<number | void> };

/** Literal import() calls, so the bundler makes one lazy chunk per command. */
const commands = {
  up: () => import('./commands/up'),
  down: () => import('./commands/down'),
  status: () => import('./commands/status'),
  logs: () => import('./commands/logs'),
  restart: () => import('./commands/restart'),
  doctor: () => import('./commands/doctor'),
} satisfies Record<string, () => Promise<Loaded>>;

const argv = process.argv.slice(2);
const beforeDashDash = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
const colorAllowed = (env: NodeJS.ProcessEnv) => !env.NO_COLOR && chalk.level > 0;

/** Before parsing succeeds (usage errors), the flags as far as they can be seen in argv. */
let flags: GlobalFlags = {
  json: beforeDashDash.includes('--json'),
  color: !beforeDashDash.includes('--no-color') && colorAllowed(process.env),
  verbose: beforeDashDash.includes('--verbose') || beforeDashDash.includes('-v'),
  projectDir: undefined,
};
if (!flags.color) chalk.level = 0;

/** The global options, on the program and on every command (so they work before or after the command name). */
function withGlobalOptions(command: Command, shortVerbose = true): Command {
  return command
    .option('--json', 'print machine-readable JSON (errors too, as {"error":{…}})')
    .option('--no-color', 'no colours (NO_COLOR=1 does the same)')
    .option(shortVerbose ? '-v, --verbose' : '--verbose', 'more detail; stack traces on errors')
    .option('--project-dir <dir>', 'the project folder (default: found from the current folder upwards)');
}

const positiveNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
  return n;
};

const wholeNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a whole number ≥ 0`);
  return n;
};

let exitCode: number = EXIT_CODES.ok;

function action<O>(name: keyof typeof commands, toOptions: (args: unknown[], opts: Record<string, unknown>) => O) {
  return async (...args: unknown[]): Promise<void> => {
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
      const module = (await commands[name]()) as Loaded;
      const code = (await module.run(options as never, context)) ?? EXIT_CODES.ok;
      // A command that wound down after Ctrl-C still ends as interrupted.
      exitCode = interrupt.received && code === EXIT_CODES.ok ? signalExitCode(interrupt.received) : code;
    } finally {
      interrupt.dispose();
    }
  };
}

const program = new Command('msctl')
  .description('Start, inspect and debug an event-driven microservice stack (Kafka, PostgreSQL, services/*)')
  .version(pkg.version, '-V, --version', 'print the version')
  .enablePositionalOptions()
  .exitOverride()
  .showHelpAfterError('(run msctl --help for usage)');
withGlobalOptions(program);

withGlobalOptions(program.command('up').description('build what is stale, start infrastructure and services in dependency order, wait for health'))
  .argument('[services...]', 'only these services (and what they need)')
  .option('-d, --detach', 'return once everything is healthy; a supervisor keeps it running')
  .option('--dry-run', 'print the plan, change nothing')
  .addOption(new Option('--runtime <runtime>', 'where to run the stack').choices(['auto', 'local', 'docker']).default('auto'))
  .option('--timeout <seconds>', 'per-service health timeout', positiveNumber('--timeout'), 90)
  .action(
    action('up', ([services], o) => ({
      services: (services as string[] | undefined) ?? [],
      detach: Boolean(o.detach),
      dryRun: Boolean(o.dryRun),
      runtime: o.runtime as 'auto' | 'local' | 'docker',
      timeout: o.timeout as number,
    })),
  );

withGlobalOptions(program.command('down').description('stop the stack in reverse dependency order'), false)
  .option('-v, --volumes', 'also delete the data (Kafka, PostgreSQL, .msctl state)')
  .action(action('down', (_args, o) => ({ volumes: Boolean(o.volumes) })));

withGlobalOptions(program.command('status').description('service, state, health, pid, port, uptime, restarts'))
  .option('--watch', 'refresh until Ctrl-C')
  .action(action('status', (_args, o) => ({ watch: Boolean(o.watch) })));

withGlobalOptions(program.command('logs').description('print the logs of services and infrastructure (all when none named)'))
  .argument('[services...]', 'services, kafka or postgres')
  .option('-f, --follow', 'keep printing new lines until Ctrl-C (then exit 130)')
  .option('-n, --tail <lines>', 'only the last N lines of each log', wholeNumber('--tail'))
  .option('--since <time>', 'only lines since a time: ISO 8601, or relative like 30s, 10m, 2h, 1d')
  .option('--raw', 'print lines as stored (no pretty-printing of JSON logs)')
  .action(
    action('logs', ([services], o) => ({
      services: (services as string[] | undefined) ?? [],
      follow: Boolean(o.follow),
      tail: o.tail as number | undefined,
      since: o.since as string | undefined,
      raw: Boolean(o.raw),
    })),
  );

withGlobalOptions(program.command('restart').description('restart one service'))
  .argument('<service>', 'the service to restart')
  .action(action('restart', ([service]) => ({ service: service as string })));

withGlobalOptions(program.command('doctor').description('what this machine has and lacks (Node, Java, Kafka jars, Docker, ports, disk), each with the fix')).action(
  action('doctor', () => ({})),
);

try {
  await program.parseAsync(argv, { from: 'user' });
} catch (error) {
  exitCode = handleError(error, { stdout: process.stdout, stderr: process.stderr, ...flags });
}
process.exit(exitCode);
