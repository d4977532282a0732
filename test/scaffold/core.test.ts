/**
 * The scaffold core without the CLI: name, topic and route rules, the default port, the npm
 * workspace entry, the atomic write (error and Ctrl-C half-way leave nothing), the questions on
 * a terminal, and a whole scaffold into a small temp project on the real file system.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import { loadProject } from '../../src/stack/project';
import { parseTopics, validateRoute, validateServiceName } from '../../src/scaffold/names';
import { defaultPort, scaffoldNewService } from '../../src/scaffold/new-service';
import { askMissing, readlinePrompter, type Prompter } from '../../src/scaffold/prompts';
import { findTemplatesDir, type RenderedFile } from '../../src/scaffold/render';
import { coveringPattern, ensureWorkspace, planWorkspace } from '../../src/scaffold/workspaces';
import { tempDirFor, writeServiceFolder } from '../../src/scaffold/write';
import { repoRoot } from '../support/cli';

const usage = (work: () => unknown) => {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(MsctlError);
    expect((error as MsctlError).code).toBe('USAGE');
    return (error as MsctlError).message;
  }
  throw new Error('expected a USAGE error');
};

const rejects = async (work: Promise<unknown>, code: string): Promise<MsctlError> => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MsctlError);
  expect((error as MsctlError).code).toBe(code);
  return error as MsctlError;
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-scaffold-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('service names', () => {
  const existing = ['gateway', 'users', 'kit', 'analytics'];

  it('accepts lowercase kebab-case names that are free', () => {
    for (const name of ['inventory', 'price-feed', 'a1', 'order-2-ship']) expect(() => validateServiceName(name, existing)).not.toThrow();
  });

  it('rejects path tricks, bad case and shapes, existing folders and reserved words', () => {
    expect(usage(() => validateServiceName('../x', existing))).toMatch(/path separators/);
    expect(usage(() => validateServiceName('a/b', existing))).toMatch(/path separators/);
    expect(usage(() => validateServiceName('a\\b', existing))).toMatch(/path separators/);
    expect(usage(() => validateServiceName('..', existing))).toMatch(/path separators/);
    expect(usage(() => validateServiceName('Users', existing))).toMatch(/kebab-case/);
    for (const bad of ['-x', 'x-', 'x--y', '1x', 'x_y', 'x.y', '.hidden', 'a b']) expect(usage(() => validateServiceName(bad, existing)), bad).toMatch(/kebab-case/);
    expect(usage(() => validateServiceName('', existing))).toMatch(/needs a name/);
    expect(usage(() => validateServiceName('x'.repeat(41), existing))).toMatch(/too long/);
    expect(usage(() => validateServiceName('gateway', existing))).toMatch(/services\/gateway already exists/);
    expect(usage(() => validateServiceName('users', existing))).toMatch(/already exists/);
    for (const reserved of ['kit', 'kafka', 'postgres', 'dist', 'test', 'templates', 'gateway']) {
      expect(usage(() => validateServiceName(reserved, [])), reserved).toMatch(/reserved/);
    }
  });
});

describe('topics and routes', () => {
  it('splits commas, trims, deduplicates and checks Kafka topic names', () => {
    expect(parseTopics(['a.b, c', 'a.b', 'd_e-f'], '--consumes')).toEqual(['a.b', 'c', 'd_e-f']);
    expect(parseTopics(undefined, '--consumes')).toEqual([]);
    expect(parseTopics([''], '--consumes')).toEqual([]);
    expect(usage(() => parseTopics(['no spaces'], '--produces'))).toMatch(/--produces no: not a Kafka topic|not a Kafka topic/);
    expect(usage(() => parseTopics(['a/b'], '--consumes'))).toMatch(/--consumes a\/b: not a Kafka topic name/);
  });

  it('takes /api/<name> routes that no other service uses', () => {
    const taken = [{ prefix: '/api/users', service: 'users' }];
    expect(validateRoute('/api/inventory', taken)).toBe('/api/inventory');
    expect(validateRoute('/api/inventory/', taken)).toBe('/api/inventory');
    expect(usage(() => validateRoute('/inventory', taken))).toMatch(/not a gateway route/);
    expect(usage(() => validateRoute('/api/Inv', taken))).toMatch(/not a gateway route/);
    expect(usage(() => validateRoute('/api/../x', taken))).toMatch(/not a gateway route/);
    expect(usage(() => validateRoute('/api/users', taken))).toMatch(/overlaps \/api\/users, routed to users/);
    expect(usage(() => validateRoute('/api/users/extra', taken))).toMatch(/overlaps/);
  });
});

describe('the default port', () => {
  const infrastructure = { kafkaPort: 19092, kafkaControllerPort: 19093, postgresPort: 15432, postgresUser: 'msctl' };
  const manifests = [4000, 4001, 4004].map((port) => ({ port }));

  it('is the first port above the highest manifest port that is free', async () => {
    expect(await defaultPort({ manifests, infrastructure } as never, async () => true)).toBe(4005);
    expect(await defaultPort({ manifests, infrastructure } as never, async (port) => port > 4006)).toBe(4007);
  });

  it('skips the infrastructure ports', async () => {
    const high = { manifests: [{ port: 19091 }], infrastructure };
    expect(await defaultPort(high as never, async () => true)).toBe(19094);
  });
});

describe('the npm workspace entry', () => {
  it('is covered by a glob, or not', () => {
    expect(coveringPattern(['services/*'], 'services/inventory')).toBe('services/*');
    expect(coveringPattern(['./services/*/'], 'services/inventory')).toBe('./services/*/');
    expect(coveringPattern(['services/**'], 'services/inventory')).toBe('services/**');
    expect(coveringPattern(['services/users', 'services/kit'], 'services/inventory')).toBeUndefined();
    expect(coveringPattern(['services/*', '!services/inventory'], 'services/inventory')).toBeUndefined();
    expect(coveringPattern(['packages/*'], 'services/inventory')).toBeUndefined();
  });

  it('adds the folder to an explicit list, keeping the file otherwise as it was', async () => {
    const file = join(dir, 'package.json');
    await writeFile(file, `${JSON.stringify({ name: 'p', private: true, workspaces: ['services/kit', 'services/users'], scripts: { test: 'vitest' } }, null, 4)}\n`);
    const change = await ensureWorkspace(file, 'services/inventory');
    expect(change).toEqual({ coveredBy: undefined, added: true, workspaces: true });
    const text = await readFile(file, 'utf8');
    expect(JSON.parse(text)).toEqual({ name: 'p', private: true, workspaces: ['services/kit', 'services/users', 'services/inventory'], scripts: { test: 'vitest' } });
    expect(text).toMatch(/^\{\n {4}"name"/); // the file's own indentation
    expect(await readdir(dir)).toEqual(['package.json']); // no temp file left
    // a second run finds it covered and changes nothing
    expect(await ensureWorkspace(file, 'services/inventory')).toMatchObject({ coveredBy: 'services/inventory', added: false });
  });

  it('knows the { packages: [...] } form, and leaves a package.json without workspaces alone', async () => {
    const file = join(dir, 'package.json');
    await writeFile(file, JSON.stringify({ workspaces: { packages: ['services/kit'], nohoist: [] } }));
    await ensureWorkspace(file, 'services/inventory');
    expect(JSON.parse(await readFile(file, 'utf8')).workspaces).toEqual({ packages: ['services/kit', 'services/inventory'], nohoist: [] });

    const plain = '{"name":"no-workspaces"}';
    await writeFile(file, plain);
    expect(await ensureWorkspace(file, 'services/inventory')).toEqual({ coveredBy: undefined, added: false, workspaces: false });
    expect(await readFile(file, 'utf8')).toBe(plain);
    expect(planWorkspace({ workspaces: ['services/*'] }, 'services/inventory')).toEqual({ coveredBy: 'services/*', added: false, workspaces: true });
  });
});

describe('the atomic write', () => {
  const files: RenderedFile[] = [
    { path: 'service.json', contents: '{}\n' },
    { path: 'src/main.ts', contents: 'main\n' },
    { path: 'src/migrations/001_init.sql', contents: 'sql\n' },
    { path: 'test/service.test.ts', contents: 'test\n' },
  ];

  it('writes every file into services/<name> and leaves no temp folder', async () => {
    const target = await writeServiceFolder(dir, 'inventory', files);
    expect(target).toBe(join(dir, 'inventory'));
    expect(await readFile(join(target, 'src/migrations/001_init.sql'), 'utf8')).toBe('sql\n');
    expect(await readdir(dir)).toEqual(['inventory']);
  });

  it('Ctrl-C half-way (the signal aborts): INTERRUPTED, and neither the folder nor the temp folder is left', async () => {
    const controller = new AbortController();
    let sawTemp = false;
    const error = await rejects(
      writeServiceFolder(dir, 'inventory', files, {
        signal: controller.signal,
        beforeFile: (_path, index) => {
          if (index === 2) {
            sawTemp = existsSync(join(tempDirFor(dir, 'inventory'), 'src', 'main.ts'));
            controller.abort(new MsctlError('INTERRUPTED', 'interrupted (SIGINT)'));
          }
        },
      }),
      'INTERRUPTED',
    );
    expect(error.message).toMatch(/interrupted/);
    expect(sawTemp).toBe(true); // it was half-way: two files were written
    expect(await readdir(dir)).toEqual([]);
  });

  it('an error half-way leaves nothing either', async () => {
    await expect(
      writeServiceFolder(dir, 'inventory', files, {
        beforeFile: (path) => {
          if (path.startsWith('test/')) throw new Error('disk full');
        },
      }),
    ).rejects.toThrow('disk full');
    expect(await readdir(dir)).toEqual([]);
  });

  it('a failing last step (the workspace entry) removes the folder it had just put in place', async () => {
    await expect(
      writeServiceFolder(dir, 'inventory', files, {
        afterRename: async () => {
          throw new Error('package.json is read-only');
        },
      }),
    ).rejects.toThrow('read-only');
    expect(await readdir(dir)).toEqual([]);
  });

  it('never replaces a folder that appeared meanwhile', async () => {
    await mkdir(join(dir, 'inventory'));
    await writeFile(join(dir, 'inventory', 'mine.txt'), 'keep me');
    await rejects(writeServiceFolder(dir, 'inventory', files), 'USAGE');
    expect(await readdir(join(dir, 'inventory'))).toEqual(['mine.txt']);
    expect(await readdir(dir)).toEqual(['inventory']);
  });
});

describe('questions on a terminal', () => {
  const scripted = (answers: string[]): Prompter & { asked: string[] } => {
    const asked: string[] = [];
    return {
      asked,
      ask: async (question) => {
        asked.push(question);
        return answers.shift() ?? '';
      },
      close: () => undefined,
    };
  };

  it('asks only for what the flags left open', async () => {
    const prompter = scripted(['events.processed, users.events', '', 'y', 'yes']);
    const answers = await askMissing({ name: 'inventory' }, prompter);
    expect(answers).toEqual({ name: 'inventory', consumes: ['events.processed, users.events'], produces: [''], postgres: true, route: '/api/inventory' });
    expect(prompter.asked).toHaveLength(4);

    const none = scripted([]);
    const given = { name: 'x', consumes: [], produces: ['a'], postgres: false, route: false as const };
    expect(await askMissing(given, none)).toEqual(given);
    expect(none.asked).toEqual([]);

    const defaults = scripted(['', '', '', 'n']);
    expect(await askMissing({ name: 'x' }, defaults)).toMatchObject({ postgres: false, route: false });
  });

  it('reads the answers line by line with node:readline, and says so when the input ends early', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    const chunks: string[] = [];
    output.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
    const prompter = readlinePrompter(input, output);
    const first = prompter.ask('Topics it consumes? ');
    input.write('events.processed\n');
    expect(await first).toBe('events.processed');
    expect(chunks.join('')).toContain('Topics it consumes? ');
    input.end();
    await new Promise((resolve) => setImmediate(resolve));
    await rejects(prompter.ask('more? '), 'USAGE');
    prompter.close();
  });

  it('an aborted signal (Ctrl-C) ends a question with INTERRUPTED', async () => {
    const controller = new AbortController();
    const prompter = readlinePrompter(new PassThrough(), new PassThrough(), controller.signal);
    const pending = prompter.ask('Topics? ');
    controller.abort(new MsctlError('INTERRUPTED', 'interrupted (SIGINT)'));
    await rejects(pending, 'INTERRUPTED');
    prompter.close();
  });
});

describe('scaffoldNewService on a small project', () => {
  const makeProject = async (workspaces: string[]) => {
    for (const [name, port, routes] of [
      ['users', 4001, [{ prefix: '/api/users', upstreamPath: '/users' }]],
      ['gateway', 4000, []],
    ] as const) {
      await mkdir(join(dir, 'services', name), { recursive: true });
      await writeFile(join(dir, 'services', name, 'service.json'), JSON.stringify({ name, port, routes }));
    }
    await mkdir(join(dir, 'services', 'kit'));
    await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: 'p', workspaces }, null, 2)}\n`);
  };
  const deps = { isPortFree: async () => true, templatesDir: findTemplatesDir(repoRoot) };
  const listing = async () => (await readdir(join(dir, 'services'))).sort();

  it('writes services/<name> with its manifest and adds it to an explicit workspace list', async () => {
    await makeProject(['services/kit', 'services/users', 'services/gateway']);
    const result = await scaffoldNewService(dir, { name: 'inventory', consumes: ['events.processed'], postgres: true, route: '/api/inventory' }, deps);
    expect(result.dryRun).toBe(false);
    expect(result.spec).toMatchObject({ port: 4002, consumes: ['events.processed'], produces: [], postgres: true, route: '/api/inventory' });
    expect(result.workspace).toMatchObject({ added: true, coveredBy: undefined });
    expect(JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')).workspaces).toContain('services/inventory');
    expect(result.files.map((f) => f.path)).toContain('services/inventory/src/migrations/001_init.sql');
    for (const file of result.files) expect(await readFile(join(dir, file.path), 'utf8')).toBe(file.contents);
    // msctl now sees it as a service of the project, routed through the gateway
    const project = await loadProject(dir);
    expect(project.manifests.find((m) => m.name === 'inventory')).toMatchObject({ port: 4002, needs: ['kafka', 'postgres'], routes: [{ prefix: '/api/inventory', upstreamPath: '/inventory' }] });
    expect(await listing()).toEqual(['gateway', 'inventory', 'kit', 'users']);
  });

  it('--dry-run plans the same files and writes nothing', async () => {
    await makeProject(['services/*']);
    const before = await readFile(join(dir, 'package.json'), 'utf8');
    const result = await scaffoldNewService(dir, { name: 'price-feed', produces: ['prices'], dryRun: true }, deps);
    expect(result.dryRun).toBe(true);
    expect(result.files.map((f) => f.path)).toEqual([
      'services/price-feed/package.json',
      'services/price-feed/service.json',
      'services/price-feed/src/main.ts',
      'services/price-feed/src/service.ts',
      'services/price-feed/test/service.test.ts',
    ]);
    expect(result.files.every((f) => f.bytes === Buffer.byteLength(f.contents) && f.bytes > 0)).toBe(true);
    expect(result.workspace).toMatchObject({ coveredBy: 'services/*', added: false });
    expect(await listing()).toEqual(['gateway', 'kit', 'users']);
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(before);
  });

  it('rejects bad input with USAGE and writes nothing', async () => {
    await makeProject(['services/*']);
    const before = await readFile(join(dir, 'package.json'), 'utf8');
    for (const input of [
      { name: '../x' },
      { name: 'Users' },
      { name: 'gateway' },
      { name: 'kit' },
      { name: 'ok', port: 4001 },
      { name: 'ok', port: 70000 },
      { name: 'ok', route: '/api/users' },
      { name: 'ok', route: 'api/ok' },
      { name: 'ok', consumes: ['bad topic'] },
    ]) {
      await rejects(scaffoldNewService(dir, input, deps), 'USAGE');
    }
    expect(await listing()).toEqual(['gateway', 'kit', 'users']);
    expect(await readFile(join(dir, 'package.json'), 'utf8')).toBe(before);
  });
});
