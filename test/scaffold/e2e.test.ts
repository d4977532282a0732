/**
 * `msctl scaffold new-service` end to end, through the built binary, in a copy of this
 * project (its git files, node_modules linked from here, every port moved to a free one):
 * scaffold inventory (a PostgreSQL consumer behind the gateway) and two more shapes → bad
 * names write nothing → the generated tests pass (npm test -w) → the project type check
 * passes → `msctl up -d` starts them with the rest, healthy → an event posted through the
 * gateway with a token is consumed by inventory exactly once, and its stats say so through
 * the gateway → `msctl down -v`.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { findFreePort } from '../../src/infra/ports';
import type { StackStatus } from '../../src/runtime/types';
import { clientToken, msctl, repoRoot } from '../support/cli';
import { gatewayClient } from '../support/gateway-client';

let project: string;
let env: Record<string, string>;
const ports: Record<string, number> = {};
let upStarted = false;

/** The environment of this process without vitest's own variables (a nested vitest must not inherit them). */
const childEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[1] !== undefined && !entry[0].startsWith('VITEST') && entry[0] !== 'NODE_ENV'));

const inProject = (args: string[]) => msctl(args, { cwd: project, env });
const servicesListing = async () => (await readdir(join(project, 'services'))).sort();

async function distinctFreePorts(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(await findFreePort());
  return [...chosen];
}

/** Moves every manifest (also the scaffolded ones) to a free port, like test/support/throwaway-project.ts. */
async function moveServicesToFreePorts(): Promise<void> {
  const names = (await readdir(join(project, 'services'))).filter((name) => existsSync(join(project, 'services', name, 'service.json')));
  const free = await distinctFreePorts(names.length);
  for (const name of names) {
    const file = join(project, 'services', name, 'service.json');
    const manifest = JSON.parse(await readFile(file, 'utf8')) as { port: number };
    manifest.port = free.pop()!;
    ports[name] = manifest.port;
    await writeFile(file, JSON.stringify(manifest, null, 2));
  }
}

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'msctl-scaffold-e2e-'));
  await chmod(project, 0o755); // PostgreSQL runs as an unprivileged user when we are root
  // The project as git knows it (committed or not), without node_modules, builds or state.
  const listed = await execa('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: repoRoot });
  for (const file of String(listed.stdout).split('\0').filter(Boolean)) {
    if (!existsSync(join(repoRoot, file))) continue; // deleted in the work tree
    await mkdir(dirname(join(project, file)), { recursive: true });
    await copyFile(join(repoRoot, file), join(project, file));
  }
  // npm links workspaces as node_modules/@msctl/<name> → services/<name>; the new service needs
  // no link of its own: it imports @msctl/kit, and the kit's link resolves the same way here.
  await symlink(join(repoRoot, 'node_modules'), join(project, 'node_modules'));
  const [kafka, controller, postgres] = await distinctFreePorts(3);
  env = { MSCTL_KAFKA_PORT: String(kafka), MSCTL_KAFKA_CONTROLLER_PORT: String(controller), MSCTL_POSTGRES_PORT: String(postgres) };
});

afterAll(async () => {
  if (!project) return;
  if (upStarted) await inProject(['down', '-v']);
  await rm(project, { recursive: true, force: true });
});

describe('msctl scaffold new-service, end to end', () => {
  it('writes services/inventory: manifest, code on the kit, migration and tests', async () => {
    const result = await inProject(['scaffold', 'new-service', 'inventory', '--consumes', 'events.processed', '--postgres', '--route', '/api/inventory']);
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const out = String(result.stdout);
    expect(out).toMatch(/created services\/inventory\//);
    expect(out).toMatch(/services\/inventory\/src\/migrations\/001_init\.sql/);
    expect(out).toMatch(/workspace: covered by "services\/\*"/);
    const manifest = JSON.parse(await readFile(join(project, 'services/inventory/service.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      name: 'inventory',
      needs: ['kafka', 'postgres'],
      consumes: ['events.processed'],
      produces: ['events.processed.dlq'],
      routes: [{ prefix: '/api/inventory', upstreamPath: '/inventory' }],
    });
    // the first free port above the highest manifest port (4004)
    expect(manifest.port).toBeGreaterThanOrEqual(4005);
    expect(manifest.port).toBeLessThan(4100);
    expect((await readdir(join(project, 'services/inventory'))).sort()).toEqual(['package.json', 'service.json', 'src', 'test']);
    expect(await servicesListing()).not.toContain(expect.stringMatching(/\.tmp-/));
    // covered by the services/* glob: package.json is left as it was
    expect(await readFile(join(project, 'package.json'), 'utf8')).toBe(await readFile(join(repoRoot, 'package.json'), 'utf8'));
  });

  it('writes two more shapes: an in-memory consumer and producer (--json), and a PostgreSQL producer with an outbox', async () => {
    const ledger = await inProject(['scaffold', 'new-service', 'ledger', '--consumes', 'users.events', '--produces', 'ledger.entries', '--json']);
    expect(ledger.exitCode, String(ledger.stderr)).toBe(0);
    const body = JSON.parse(String(ledger.stdout)) as { name: string; dryRun: boolean; port: number; postgres: boolean; route: null; files: Array<{ path: string; bytes: number }> };
    expect(body).toMatchObject({ name: 'ledger', dryRun: false, postgres: false, route: null });
    const inventory = JSON.parse(await readFile(join(project, 'services/inventory/service.json'), 'utf8')) as { port: number };
    expect(body.port).toBeGreaterThan(inventory.port);
    expect(body.files.map((f) => f.path)).not.toContain('services/ledger/src/migrations/001_init.sql');

    const audit = await inProject(['scaffold', 'new-service', 'audit', '--produces', 'audit.log', '--postgres', '--route', '/api/audit', '--port', '4100']);
    expect(audit.exitCode, String(audit.stderr)).toBe(0);
    expect(JSON.parse(await readFile(join(project, 'services/audit/service.json'), 'utf8'))).toMatchObject({ port: 4100, needs: ['kafka', 'postgres'], produces: ['audit.log'] });
  });

  it('rejects bad names with exit 2 and writes nothing', async () => {
    const before = await servicesListing();
    for (const name of ['../x', 'Users', 'gateway', 'inventory', 'kit', 'a/b']) {
      const result = await inProject(['scaffold', 'new-service', name, '--postgres']);
      expect(result.exitCode, `${name}: ${result.stderr}`).toBe(2);
      expect(String(result.stderr), name).toMatch(/^error: /);
      expect(String(result.stderr), name).toMatch(/hint: /);
    }
    const json = await inProject(['scaffold', 'new-service', 'Users', '--json']);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(String(json.stdout))).toMatchObject({ error: { code: 'USAGE' } });
    expect(await servicesListing()).toEqual(before);
    expect(existsSync(join(project, 'x'))).toBe(false);
  });

  it('--dry-run prints the files with their sizes (contents with --verbose) and writes nothing', async () => {
    const before = await servicesListing();
    const result = await inProject(['scaffold', 'new-service', 'stock', '--produces', 'stock.changed', '--dry-run', '--verbose']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const out = String(result.stdout);
    expect(out).toMatch(/dry run: would write services\/stock\//);
    expect(out).toMatch(/services\/stock\/src\/service\.ts\s+\d+(\.\d)? (B|KiB)/);
    expect(out).toContain("app.post('/stock/events'");
    expect(await servicesListing()).toEqual(before);
  });

  it('the generated services pass their own tests (npm test -w) against a real broker and database', async () => {
    for (const name of ['inventory', 'ledger', 'audit']) {
      const result = await execa('npm', ['test', '-w', `services/${name}`], { cwd: project, env: childEnv(), extendEnv: false, reject: false, timeout: 300_000 });
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.exitCode, output).toBe(0);
      const summary = /vitest: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(output);
      expect(summary, output).not.toBeNull();
      expect(Number(summary![1]), name).toBeGreaterThanOrEqual(4);
      expect([summary![2], summary![3]], name).toEqual(['0', '0']);
    }
  }, 900_000);

  it('the project type check passes with the generated folders in it', async () => {
    const result = await execa(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit'], { cwd: project, reject: false });
    const output = `${result.stdout}\n${result.stderr}`;
    // first what the scaffold wrote, then the whole project
    expect(output.split('\n').filter((line) => /^services\/(inventory|ledger|audit)\//.test(line))).toEqual([]);
    expect(result.exitCode, output).toBe(0);
  }, 120_000);

  it('the project lint passes on the generated folders', async () => {
    const result = await execa(join(repoRoot, 'node_modules/.bin/biome'), ['lint', 'services/inventory', 'services/ledger', 'services/audit'], { cwd: project, reject: false });
    const output = `${result.stdout}\n${result.stderr}`;
    expect(result.exitCode, output).toBe(0);
    expect(output).toMatch(/Checked \d+ files?/);
  }, 120_000);

  it('msctl up -d builds and starts them with the rest; status --json shows them healthy', async () => {
    await moveServicesToFreePorts();
    upStarted = true;
    const up = await inProject(['up', '-d']);
    expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
    const status = await inProject(['status', '--json']);
    expect(status.exitCode, String(status.stderr)).toBe(0);
    const current = JSON.parse(String(status.stdout)) as StackStatus;
    for (const name of ['inventory', 'ledger', 'audit']) {
      const target = current.targets.find((t) => t.name === name);
      expect(target, name).toMatchObject({ kind: 'service', state: 'healthy', health: 'pass', port: ports[name] });
    }
    expect(current.targets.find((t) => t.name === 'inventory')?.checks).toMatchObject({ 'postgres:connection': 'pass', 'kafka:connection': 'pass' });
    expect(existsSync(join(project, 'services/inventory/dist/main.js'))).toBe(true);
  }, 300_000);

  it('inventory consumes an event posted through the gateway exactly once, and shows it at /api/inventory/stats', async () => {
    const gateway = `http://127.0.0.1:${ports.gateway}`;
    const { post, login } = gatewayClient(gateway);
    const { token: accessToken } = await login('ada');
    // Stock events name a SKU, not the poster, as their subject: a service client's ingest scope.
    const ingestToken = await clientToken(project, env, 'stock-feed', ['events:ingest']);
    const stats = async () => {
      const response = await fetch(`${gateway}/api/inventory/stats`, { headers: { authorization: `Bearer ${accessToken}` } });
      expect(response.status).toBe(200);
      return (await response.json()) as { service: string; consumed: { total: number; byType: Record<string, number> }; stored: number };
    };
    expect((await fetch(`${gateway}/api/inventory/stats`)).status).toBe(401);

    expect((await post('/api/events', { type: 'stock.received', subject: 'sku-42', data: { quantity: 3 } }, ingestToken)).status).toBe(202);
    await eventually(async () => ((await stats()).consumed.byType['stock.received'] === 1 ? true : undefined), 30_000, 'inventory to consume the event');
    // a marker behind it on the same key (same partition): once it is counted, nothing more of the first can come
    expect((await post('/api/events', { type: 'stock.marker', subject: 'sku-42', data: {} }, ingestToken)).status).toBe(202);
    const after = await eventually(async () => {
      const current = await stats();
      return current.consumed.byType['stock.marker'] === 1 ? current : undefined;
    }, 30_000, 'inventory to consume the marker');
    expect(after.service).toBe('inventory');
    expect(after.consumed.byType['stock.received']).toBe(1);

    // the PostgreSQL producer behind the gateway: 202, and its outbox row counted
    const published = await post('/api/audit/events', { type: 'audit.checked', subject: 'sku-42', data: {} }, accessToken);
    expect(published.status).toBe(202);
    const audit = (await (await fetch(`${gateway}/api/audit/stats`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as { produced: { total: number } };
    expect(audit.produced.total).toBe(1);
  }, 120_000);

  it('msctl down -v stops everything', async () => {
    const down = await inProject(['down', '-v']);
    expect(down.exitCode, String(down.stderr)).toBe(0);
    upStarted = false;
    const status = JSON.parse(String((await inProject(['status', '--json'])).stdout)) as StackStatus;
    expect(status.supervisor.state).toBe('none');
  }, 120_000);
});
