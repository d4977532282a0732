/**
 * The commander program as plain data, and what to complete for the words typed so far. Pure:
 * the completion scripts, `msctl __complete` and the test that keeps one meaning per flag letter
 * all read the same tree, so a new command or flag is covered without touching them.
 */
import type { Command } from 'commander';

export interface OptionSpec {
  short: string | undefined;
  long: string | undefined;
  /** The option reads the next word as its value. */
  takesValue: boolean;
  choices: string[] | undefined;
}

export interface ArgumentSpec {
  name: string;
  variadic: boolean;
  choices: string[] | undefined;
}

export interface CommandSpec {
  name: string;
  aliases: string[];
  /** `__complete` and the like: run by scripts, never offered. */
  hidden: boolean;
  options: OptionSpec[];
  args: ArgumentSpec[];
  commands: CommandSpec[];
}

/**
 * Fixed choices written into an argument's help as "kill | stop | pause" (before any comma), as
 * msctl's commands do where commander's .choices() would refuse the other values they accept.
 */
function choicesOf(description: string, declared: readonly string[] | undefined): string[] | undefined {
  if (declared) return [...declared];
  const listed = /^([a-z0-9-]+(?: \| [a-z0-9-]+)+)(?:,|$)/.exec(description)?.[1];
  return listed?.split(' | ');
}

export function describeCommand(command: Command): CommandSpec {
  return {
    name: command.name(),
    aliases: command.aliases(),
    hidden: command.name().startsWith('__'),
    options: command.options
      .filter((option) => !option.hidden)
      .map((option) => ({ short: option.short, long: option.long, takesValue: option.required || option.optional, choices: option.argChoices ? [...option.argChoices] : undefined })),
    args: command.registeredArguments.map((argument) => ({ name: argument.name(), variadic: argument.variadic, choices: choicesOf(argument.description, argument.argChoices) })),
    commands: command.commands.map(describeCommand),
  };
}

/** Every command and subcommand with its path from the root ("topics groups reset-offsets"). */
export function walkCommands(root: CommandSpec): Array<{ path: string[]; command: CommandSpec }> {
  const visit = (command: CommandSpec, path: string[]): Array<{ path: string[]; command: CommandSpec }> => [
    { path, command },
    ...command.commands.flatMap((child) => visit(child, [...path, child.name])),
  ];
  return visit(root, []);
}

/** Values only the project or the running stack knows. */
export type DynamicKind = 'services' | 'targets' | 'topics' | 'groups';

export type CompletionRequest =
  | { kind: 'words'; words: string[] }
  | { kind: 'dynamic'; what: DynamicKind }
  | { kind: 'none' };

/** Which dynamic values a positional argument takes, from its name (logs also reads kafka and postgres). */
function dynamicOf(path: string[], argument: ArgumentSpec): DynamicKind | undefined {
  if (argument.name === 'target' || (path[0] === 'logs' && argument.name === 'services')) return 'targets';
  if (/^service/.test(argument.name)) return 'services';
  if (/^topics?$/.test(argument.name)) return 'topics';
  if (argument.name === 'group') return 'groups';
  return undefined;
}

const HELP: OptionSpec = { short: '-h', long: '--help', takesValue: false, choices: undefined };
const findOption = (command: CommandSpec, word: string) => [...command.options, HELP].find((option) => option.long === word || option.short === word);

/**
 * What to offer for `words` (the words after `msctl`; the last is the one being typed, maybe
 * empty). Candidates are not yet filtered by what is typed: see completeWords.
 */
export function completionRequest(root: CommandSpec, words: string[]): CompletionRequest {
  const typed = words.slice(0, -1);
  const current = words.at(-1) ?? '';
  let command = root;
  const path: string[] = [];
  let positionals = 0;
  let awaitingValue: OptionSpec | undefined;
  for (const word of typed) {
    if (awaitingValue) {
      awaitingValue = undefined;
      continue;
    }
    if (word.startsWith('-') && word !== '-') {
      const option = findOption(command, word.split('=')[0]!);
      if (option?.takesValue && !word.includes('=')) awaitingValue = option;
      continue;
    }
    const child = positionals === 0 ? command.commands.find((c) => !c.hidden && (c.name === word || c.aliases.includes(word))) : undefined;
    if (child) {
      command = child;
      path.push(child.name);
    } else {
      positionals += 1;
    }
  }
  if (awaitingValue) return awaitingValue.choices ? { kind: 'words', words: awaitingValue.choices } : { kind: 'none' };
  if (current.startsWith('-')) {
    return { kind: 'words', words: [...command.options, HELP].flatMap((option) => [option.long, option.short].filter((flag): flag is string => flag !== undefined)) };
  }
  if (positionals === 0 && command.commands.length > 0) {
    return { kind: 'words', words: command.commands.filter((c) => !c.hidden).flatMap((c) => [c.name, ...c.aliases]) };
  }
  const argument = command.args[positionals] ?? (command.args.at(-1)?.variadic ? command.args.at(-1) : undefined);
  if (!argument) return { kind: 'none' };
  if (argument.choices) return { kind: 'words', words: argument.choices };
  const what = dynamicOf(path, argument);
  return what ? { kind: 'dynamic', what } : { kind: 'none' };
}

/** The candidates that start with what is typed, each once, in order. */
export function completeWords(candidates: string[], current: string): string[] {
  return [...new Set(candidates.filter((word) => word.startsWith(current)))];
}

/** `--project-dir <dir>` (or `--project-dir=<dir>`) among the typed words, for the project's names. */
export function projectDirOf(words: string[]): string | undefined {
  for (const [index, word] of words.entries()) {
    if (word.startsWith('--project-dir=')) return word.slice('--project-dir='.length);
    if (word === '--project-dir' && index < words.length - 2) return words[index + 1];
  }
  return undefined;
}
