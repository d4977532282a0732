/**
 * The commander program: its global flags and every command, registered from its
 * commands/<name>/command.ts. Built here rather than in main.ts so that tests (and the completion
 * scripts) can walk the whole tree without running it. Each command's run.ts is reached only
 * through the literal import() below, so the bundler keeps it in a chunk of its own.
 */
import { Command } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { type ActionFactory, type CommandModule, withGlobalOptions } from './command';
import * as chaos from './commands/chaos/command';
import * as completion from './commands/completion/command';
import * as dashboard from './commands/dashboard/command';
import * as dev from './commands/dev/command';
import * as doctor from './commands/doctor/command';
import * as down from './commands/down/command';
import * as env from './commands/env/command';
import * as exec from './commands/exec/command';
import * as exporter from './commands/export/command';
import * as loadTest from './commands/load-test/command';
import * as logs from './commands/logs/command';
import * as psql from './commands/psql/command';
import * as restart from './commands/restart/command';
import * as scaffold from './commands/scaffold/command';
import * as scale from './commands/scale/command';
import * as status from './commands/status/command';
import * as token from './commands/token/command';
import * as topics from './commands/topics/command';
import * as traces from './commands/traces/command';
import * as up from './commands/up/command';

/** Makes a command's action from the loader of its run.ts (main.ts runs it; a test passes one that never runs). */
export type ActionOf = <O>(load: () => Promise<CommandModule<O>>) => ActionFactory<O>;

export function buildProgram(actionOf: ActionOf): Command {
  const program = new Command('msctl')
    .description('Start, inspect and debug an event-driven microservice stack (Kafka, PostgreSQL, services/*)')
    .version(pkg.version, '-V, --version', 'print the version')
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(run msctl --help for usage)');
  withGlobalOptions(program);

  up.register(program, actionOf(() => import('./commands/up/run')));
  dev.register(program, actionOf(() => import('./commands/dev/run')));
  down.register(program, actionOf(() => import('./commands/down/run')));
  status.register(program, actionOf(() => import('./commands/status/run')));
  dashboard.register(program, actionOf(() => import('./commands/dashboard/run')));
  logs.register(program, actionOf(() => import('./commands/logs/run')));
  restart.register(program, actionOf(() => import('./commands/restart/run')));
  scale.register(program, actionOf(() => import('./commands/scale/run')));
  chaos.register(program, actionOf(() => import('./commands/chaos/run')));
  doctor.register(program, actionOf(() => import('./commands/doctor/run')));
  topics.register(program, actionOf(() => import('./commands/topics/run')));
  scaffold.register(program, actionOf(() => import('./commands/scaffold/run')));
  loadTest.register(program, actionOf(() => import('./commands/load-test/run')));
  exporter.register(program, actionOf(() => import('./commands/export/run')));
  traces.register(program, actionOf(() => import('./commands/traces/run')));
  token.register(program, actionOf(() => import('./commands/token/run')));
  psql.register(program, actionOf(() => import('./commands/psql/run')));
  env.register(program, actionOf(() => import('./commands/env/run')));
  exec.register(program, actionOf(() => import('./commands/exec/run')));
  completion.register(program, actionOf(() => import('./commands/completion/run')));
  return program;
}
