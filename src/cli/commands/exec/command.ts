/** `msctl exec <service> -- <command…>`: its arguments and options. */
import type { Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';

export interface ExecOptions {
  /** A service, or one of its instances ("users#2"). */
  target: string;
  command: string[];
}

export function register(program: Command, action: ActionFactory<ExecOptions>): void {
  withGlobalOptions(
    program
      .command('exec')
      .description("run a command with a service's environment: in its folder (local runtime) or in its container (docker); exits with the command's code")
      .usage('[options] <service> -- <command...>'),
  )
    .argument('<service>', 'the service, or one of its instances (users#2)')
    // msctl's options go anywhere before `--`, as kubectl exec's do; everything after it is the command's.
    .argument('<command...>', 'the command and its arguments, after --')
    .action(action(([target, command]) => ({ target: target as string, command: command as string[] })));
}
