/**
 * `msctl completion bash|zsh|fish` and `msctl __complete`: what is offered for the words typed
 * (pure, from the program's tree), and the bash script for real: sourced in bash, asked to
 * complete `msctl logs us` through the built CLI.
 */
import { execa } from 'execa';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionScript } from '../../src/cli/commands/completion/scripts';
import { completeWords, completionRequest, describeCommand, projectDirOf } from '../../src/cli/commands/completion/tree';
import { buildProgram } from '../../src/cli/program';
import { msctl, repoRoot } from '../support/cli';

const tree = describeCommand(buildProgram(() => () => async () => undefined));
const offered = (...words: string[]) => {
  const request = completionRequest(tree, words);
  return request.kind === 'words' ? completeWords(request.words, words.at(-1)!) : request;
};

describe('what is offered', () => {
  it('commands, aliases included, never the hidden ones', () => {
    expect(offered('')).toEqual(expect.arrayContaining(['up', 'down', 'status', 'ps', 'logs', 'topics', 'completion']));
    expect(offered('')).not.toContain('__complete');
    expect(offered('to')).toEqual(['topics', 'token']);
  });

  it('subcommands, then the flags of the command typed, global ones included', () => {
    expect(offered('topics', 'groups', '')).toEqual(['reset-offsets']);
    expect(offered('logs', '--t')).toEqual(['--tail', '--timestamps', '--trace']);
    expect(offered('down', '-')).toEqual(expect.arrayContaining(['--volumes', '-v', '--json', '--verbose', '--help']));
  });

  it("an option's choices, and nothing for a free value", () => {
    expect(offered('up', '--runtime', '')).toEqual(['auto', 'local', 'docker']);
    expect(offered('logs', '--since', '')).toEqual({ kind: 'none' });
    expect(offered('completion', '')).toEqual(['bash', 'zsh', 'fish']);
    expect(offered('chaos', '')).toEqual(['kill', 'stop', 'pause']);
  });

  it('names the project or the running stack knows, by argument', () => {
    expect(offered('logs', '-n', '5', 'users', '')).toEqual({ kind: 'dynamic', what: 'targets' });
    expect(offered('up', '')).toEqual({ kind: 'dynamic', what: 'services' });
    expect(offered('chaos', 'kill', '')).toEqual({ kind: 'dynamic', what: 'targets' });
    expect(offered('topics', 'tail', '')).toEqual({ kind: 'dynamic', what: 'topics' });
    expect(offered('topics', 'groups', 'reset-offsets', '')).toEqual({ kind: 'dynamic', what: 'groups' });
    expect(offered('doctor', '')).toEqual({ kind: 'none' });
  });

  it('reads --project-dir among the words typed', () => {
    expect(projectDirOf(['logs', '--project-dir', '/p', ''])).toBe('/p');
    expect(projectDirOf(['logs', '--project-dir=/q', 'us'])).toBe('/q');
    expect(projectDirOf(['logs', '--project-dir'])).toBeUndefined();
  });
});

describe('the scripts', () => {
  let bin: string;
  beforeAll(async () => {
    bin = await mkdtemp(join(tmpdir(), 'msctl-completion-'));
    await symlink(join(repoRoot, 'bin', 'msctl.js'), join(bin, 'msctl'));
  });
  afterAll(() => rm(bin, { recursive: true, force: true }));
  // The node the tests run on first, so the script's `msctl` runs on it too.
  const env = () => ({ PATH: `${dirname(process.execPath)}:${bin}:${process.env.PATH}`, NO_COLOR: '1' });

  it('bash: registers msctl and completes a service name through msctl __complete', async () => {
    const script = 'source <(msctl completion bash); complete -p msctl; COMP_WORDS=(msctl logs us); COMP_CWORD=2; _msctl_completion; printf "reply:%s\\n" "${COMPREPLY[@]}"';
    const result = await execa('bash', ['-c', script], { cwd: repoRoot, env: env(), reject: false });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['complete -o default -F _msctl_completion msctl', 'reply:users']);
  });

  it('bash: subcommands and flags; a topic with no stack running is no answer and no error', async () => {
    const ask = async (...words: string[]) => {
      const quoted = words.map((word) => `'${word}'`).join(' ');
      const script = `source <(msctl completion bash); COMP_WORDS=(msctl ${quoted}); COMP_CWORD=${words.length}; _msctl_completion; printf "%s\\n" "\${COMPREPLY[@]}"`;
      const result = await execa('bash', ['-c', script], { cwd: repoRoot, env: { ...env(), MSCTL_KAFKA_PORT: '1' }, reject: false });
      expect(result.stderr).toBe('');
      return result.stdout.split('\n').filter(Boolean);
    };
    expect(await ask('topics', 'gr')).toEqual(['groups']);
    expect(await ask('ps', '-')).toContain('--quiet');
    expect(await ask('topics', 'tail', '')).toEqual([]);
  });

  it('__complete outside a project offers commands and says nothing about the missing project', async () => {
    const outside = await msctl(['__complete', '--', 'logs', ''], { cwd: tmpdir() });
    expect(outside).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
  });

  const installed = async (shell: string) => (await execa('sh', ['-c', `command -v ${shell}`], { reject: false })).exitCode === 0;

  it('zsh: the script asks msctl __complete and offers what it answers, else file names', async () => {
    expect(completionScript('zsh')).toMatch(/^#compdef msctl\n/);
    // Where zsh is not installed only the text above can be checked.
    if (!(await installed('zsh'))) return;
    expect((await execa('zsh', ['-n'], { input: completionScript('zsh'), reject: false })).exitCode).toBe(0);
    // compadd and _files stand in for zsh's completion system: they print what they are given.
    const script = [
      'compdef() { :; }; compadd() { print -l -- "${@[2,-1]}"; }; _files() { print FILES; }',
      'source <(msctl completion zsh)',
      'words=(msctl logs us); CURRENT=3; _msctl',
      'words=(msctl up --runtime ""); CURRENT=4; _msctl',
      'words=(msctl load-test --report ""); CURRENT=4; _msctl',
    ].join('\n');
    const result = await execa('zsh', ['-c', script], { cwd: repoRoot, env: env(), reject: false });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['users', 'auto', 'local', 'docker', 'FILES']);
  });

  it('fish: the script asks msctl __complete, an empty word included', async () => {
    expect(completionScript('fish')).toContain("complete -c msctl -f -a '(__msctl_complete)'");
    if (!(await installed('fish'))) return;
    const script = 'msctl completion fish | source; complete -C "msctl logs us"; complete -C "msctl topics gr"; complete -C "msctl completion "';
    const result = await execa('fish', ['-c', script], { cwd: repoRoot, env: env(), reject: false });
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n')).toEqual(['users', 'groups', 'bash', 'fish', 'zsh']); // fish sorts what it is offered
  });
});
