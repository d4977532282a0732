/**
 * The new-service templates: every combination (consumes × produces × postgres, with and
 * without a route) renders to a valid manifest and to code that passes the project's type
 * check. The type check runs the real tsc over the rendered folders in a temp project that
 * shares this repository's node_modules (so @msctl/kit, zod, kafkajs and vitest resolve).
 */
import { execa } from 'execa';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestSchema } from '../../src/stack/manifest';
import { findTemplatesDir, loadTemplates, renderTemplates, templateView, type RenderedFile, type ServiceSpec, type Template } from '../../src/scaffold/render';
import { repoRoot } from '../support/cli';

let templates: Template[];
let project: string;

interface Combo {
  spec: ServiceSpec;
  files: RenderedFile[];
}

const combos: Combo[] = [];

beforeAll(async () => {
  templates = await loadTemplates(findTemplatesDir(repoRoot));
  let port = 5100;
  for (const consumes of [[], ['events.processed', 'users.events']]) {
    for (const produces of [[], ['stock.changed', 'stock.audit']]) {
      for (const postgres of [false, true]) {
        for (const routed of [false, true]) {
          const name = `combo-c${consumes.length}-p${produces.length}-${postgres ? 'pg' : 'mem'}${routed ? '-r' : ''}`;
          const spec: ServiceSpec = { name, description: 'a combination', port: port++, consumes, produces, postgres, route: routed ? `/api/${name}` : undefined };
          combos.push({ spec, files: renderTemplates(templates, spec) });
        }
      }
    }
  }
  project = await mkdtemp(join(tmpdir(), 'msctl-scaffold-tsc-'));
  await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
  for (const { spec, files } of combos) {
    for (const file of files) {
      const path = join(project, 'services', spec.name, file.path);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, file.contents);
    }
  }
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      extends: join(repoRoot, 'tsconfig.json'),
      // the project's ambient declarations: ?raw imports, and what the test harness provides to inject()
      include: ['services/*/src', 'services/*/test', join(repoRoot, 'services/kit/src/raw-imports.d.ts'), join(repoRoot, 'test/support/infra-env.ts')],
    }),
  );
});

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe('the new-service templates', () => {
  it('are real files: service.json, package.json, src/main.ts, src/service.ts, the migration and a test', () => {
    expect(templates.map((t) => t.path)).toEqual(['package.json', 'service.json', 'src/main.ts', 'src/migrations/001_init.sql', 'src/service.ts', 'test/service.test.ts']);
  });

  it('render a valid manifest for every combination: needs, topics and route follow the choices', () => {
    expect(combos).toHaveLength(16);
    for (const { spec, files } of combos) {
      const manifest = manifestSchema.parse(JSON.parse(files.find((f) => f.path === 'service.json')!.contents));
      const kafka = spec.consumes.length + spec.produces.length > 0;
      expect(manifest, spec.name).toMatchObject({
        name: spec.name,
        port: spec.port,
        consumes: spec.consumes,
        produces: [...spec.produces, ...spec.consumes.map((topic) => `${topic}.dlq`)],
        healthPath: '/health',
      });
      expect(manifest.needs, spec.name).toEqual([...(kafka ? ['kafka'] : []), ...(spec.postgres ? ['postgres'] : [])]);
      expect(manifest.routes, spec.name).toEqual(spec.route ? [{ prefix: spec.route, upstreamPath: `/${spec.name}`, public: [] }] : []);
      expect(JSON.parse(files.find((f) => f.path === 'package.json')!.contents)).toMatchObject({ name: `@msctl/${spec.name}`, dependencies: { '@msctl/kit': '0.1.0' } });
    }
  });

  it('write a migration only with postgres, a consumer only when it consumes, a producer route only when it produces', () => {
    for (const { spec, files } of combos) {
      const service = files.find((f) => f.path === 'src/service.ts')!.contents;
      expect(files.some((f) => f.path === 'src/migrations/001_init.sql'), spec.name).toBe(spec.postgres);
      expect(service.includes('context.consume('), spec.name).toBe(spec.consumes.length > 0);
      expect(service.includes('claimEvents('), spec.name).toBe(spec.consumes.length > 0 && spec.postgres);
      expect(service.includes(`app.post('/${spec.name}/events'`), spec.name).toBe(spec.produces.length > 0);
      expect(service.includes('enqueueEvent('), spec.name).toBe(spec.produces.length > 0 && spec.postgres);
      expect(service, spec.name).toContain(`app.get('/${spec.name}/stats'`);
      // no Mustache left over, no HTML escaping of the code
      for (const file of files) {
        expect(file.contents, `${spec.name}/${file.path}`).not.toMatch(/\{\{|\}\}|&#39;|&quot;|&lt;|&gt;|&amp;/);
      }
    }
  });

  it('keep the output tidy: no runs of blank lines where sections were left out', () => {
    for (const { spec, files } of combos) {
      for (const file of files) expect(file.contents, `${spec.name}/${file.path}`).not.toMatch(/\n\s*\n\s*\n/);
    }
  });

  it('derive names for code from a kebab-case name', () => {
    const view = templateView({ name: 'price-feed', description: '', port: 1, consumes: [], produces: ['a', 'b'], postgres: true, route: undefined });
    expect(view).toMatchObject({ typeName: 'PriceFeed', serviceConst: 'priceFeedService', producer: true, producerPg: true, producerMem: false, kafka: true, needsJson: '["kafka", "postgres"]' });
    expect(view.produces).toEqual([{ topic: 'a', last: false }, { topic: 'b', last: true }]);
  });

  it('render code that passes the project type check (tsc --noEmit) in every combination', async () => {
    const result = await execa(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(project, 'tsconfig.json'), '--noEmit'], { reject: false, cwd: project });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});
