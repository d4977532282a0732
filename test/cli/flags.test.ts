/**
 * One meaning per flag letter across msctl: a letter a user's fingers learned in one command
 * (`up -d`, `down -v`, `logs -f`) never means something else in another. Walks the whole
 * program, so a new command that reuses a letter for another flag fails here.
 */
import { describe, expect, it } from 'vitest';
import { describeCommand, walkCommands } from '../../src/cli/commands/completion/tree';
import { buildProgram } from '../../src/cli/program';

const program = buildProgram(() => () => async () => undefined);
const commands = walkCommands(describeCommand(program));

describe('flag letters', () => {
  it('walks every command and subcommand', () => {
    const paths = commands.map(({ path }) => path.join(' '));
    for (const path of ['up', 'down', 'status', 'logs', 'load-test', 'doctor', 'completion', 'topics tail', 'topics groups reset-offsets', 'export k8s']) expect(paths).toContain(path);
  });

  it('each short letter has one long name across all commands', () => {
    const meanings = new Map<string, Set<string>>();
    for (const { path, command } of commands) {
      for (const option of command.options) {
        if (!option.short) continue;
        const seen = meanings.get(option.short) ?? new Set<string>();
        seen.add(`${option.long ?? '(none)'} in msctl ${path.join(' ')}`.trim());
        meanings.set(option.short, seen);
      }
    }
    // Names a letter may have for one meaning: -n is how many to print, as Compose's `logs -n`
    // (lines from the end), `topics tail -n` (messages, then stop) and `traces -n` (traces).
    const sameMeaning: Record<string, string[]> = { '-n': ['--tail', '--max', '--limit'] };
    const longNames = (short: string) => new Set([...meanings.get(short)!].map((where) => where.split(' in ')[0]).map((long) => (sameMeaning[short]?.includes(long!) ? sameMeaning[short]!.join('|') : long)));
    const clashes = [...meanings.keys()].filter((short) => longNames(short).size > 1).map((short) => `${short}: ${[...meanings.get(short)!].join('; ')}`);
    expect(clashes).toEqual([]);
  });

  it('keeps the letters users know: Compose for up/down/logs/ps', () => {
    const short = (path: string, long: string) => commands.find((c) => c.path.join(' ') === path)?.command.options.find((o) => o.long === long)?.short;
    expect(short('up', '--detach')).toBe('-d');
    expect(short('down', '--volumes')).toBe('-v');
    expect(short('logs', '--follow')).toBe('-f');
    expect(short('logs', '--tail')).toBe('-n');
    expect(short('logs', '--timestamps')).toBe('-t');
    expect(short('status', '--quiet')).toBe('-q');
    expect(commands.find((c) => c.path.join(' ') === 'status')?.command.aliases).toContain('ps');
  });
});
