/** `msctl completion bash|zsh|fish` and the hidden `msctl __complete -- <words…>` its scripts call. */
import { Argument, type Command } from 'commander';
import { type ActionFactory, withGlobalOptions } from '../../command';
import { type CommandSpec, describeCommand } from './tree';
import { SHELLS, type Shell } from './scripts';

export type CompletionOptions =
  | { mode: 'script'; shell: Shell }
  /** The words after `msctl`, the last being the one typed (maybe empty); the program's tree to complete them from. */
  | { mode: 'complete'; words: string[]; tree: () => CommandSpec };

export function register(program: Command, action: ActionFactory<CompletionOptions>): void {
  withGlobalOptions(program.command('completion').description('print a shell completion script (commands, flags, services, topics, groups)'))
    .addArgument(new Argument('<shell>', 'bash | zsh | fish').choices(SHELLS))
    .action(action(([shell]) => ({ mode: 'script', shell: shell as Shell })));
  program
    .command('__complete', { hidden: true })
    .description('what the completion scripts call: the candidates for the words typed, one per line')
    .argument('[words...]')
    .helpOption(false)
    .action(action(([words]) => ({ mode: 'complete', words: (words as string[] | undefined) ?? [''], tree: () => describeCommand(program) })));
}
