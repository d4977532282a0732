/**
 * The service log is written in chunks: lines wait for 4 KiB of them or the next flush tick,
 * so they still arrive on their own when nothing else is logged, and none is lost at exit.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

/** Runs a script with a kit logger as `log`; resolves with each stdout chunk's lines once it exits. */
async function runLogging(body: string, onLine?: (line: { msg: string }, stdin: NodeJS.WritableStream) => void): Promise<string[][]> {
  const dir = await mkdtemp(join(tmpdir(), 'msctl-logger-'));
  const script = join(dir, `logger-child-${dir.slice(-6)}.ts`);
  await writeFile(script, `import { createLogger } from ${JSON.stringify(join(repoRoot, 'services/kit/src/logger.ts'))};\nconst log = createLogger('logger-test', 'info');\n${body}\n`);
  const child = spawn(process.execPath, [join(repoRoot, 'scripts/run-ts.mjs'), script], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: string[][] = [];
  let rest = '';
  child.stdout.on('data', (data: Buffer) => {
    const lines = (rest + data.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    chunks.push(lines);
    for (const line of lines) onLine?.(JSON.parse(line) as { msg: string }, child.stdin);
  });
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  expect(code).toBe(0);
  return chunks;
}

const messages = (chunks: string[][]) => chunks.flat().map((line) => (JSON.parse(line) as { msg: string }).msg);

describe('the service logger', () => {
  it('writes a lone line without waiting for more, and what is pending when the process exits', async () => {
    // The child logs its second and third lines only once this side has read the first: so
    // the first reached stdout on its own, by the flush tick.
    const chunks = await runLogging(
      `log.info('first');\nprocess.stdin.once('data', () => { log.info('second'); log.info('third'); process.exit(0); });`,
      (line, stdin) => {
        if (line.msg === 'first') stdin.write('go\n');
      },
    );
    expect(messages(chunks)).toEqual(['first', 'second', 'third']);
  });

  it('gathers lines logged a few milliseconds apart into a few writes', async () => {
    const chunks = await runLogging(
      `let n = 0;\nconst next = () => { log.info({ n }, 'request'); if (++n < 20) setTimeout(next, 2); else setTimeout(() => process.exit(0), 300); };\nnext();`,
    );
    expect(messages(chunks)).toEqual(Array.from({ length: 20 }, () => 'request'));
    expect(chunks.length).toBeLessThanOrEqual(10);
  });
});
