/**
 * The files a stack keeps in .msctl/ are this user's alone: the folder is 0700 (0711 for root,
 * whose PostgreSQL runs as `postgres` and must pass through it) and closed when found open; secrets.json is 0600, created once even by two msctl starting together, never
 * regenerated when it cannot be read, and upgraded in place from an older msctl's file.
 * Real files in temp folders; the control socket's requests are checked against a real project.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isMsctlError } from '../../src/core/errors';
import { controlRequestSchemas, parseControlRequest } from '../../src/runtime/local/requests';
import { planUp } from '../../src/stack/plan';
import { ensureStateDir, loadProject, stateDirMode } from '../../src/stack/project';
import { ensureSecrets, stackSecretsSchema } from '../../src/stack/secrets';
import { repoRoot } from '../support/cli';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

describe('.msctl/', () => {
  it('nobody else may list it or write in it: 0700, or 0711 when msctl runs as root', () => {
    expect(stateDirMode(1000)).toBe(0o700);
    expect(stateDirMode(0)).toBe(0o711);
  });

  it('is created so', async () => {
    const stateDir = join(dir, 'project', '.msctl');
    ensureStateDir(stateDir);
    expect(await modeOf(stateDir)).toBe(stateDirMode());
    expect((await modeOf(stateDir)) & 0o066).toBe(0);
  });

  it('found more open (an older msctl, a umask of 022) is closed', async () => {
    const stateDir = join(dir, '.msctl');
    await mkdir(stateDir);
    await chmod(stateDir, 0o777);
    await writeFile(join(stateDir, 'state.json'), '{}');
    ensureStateDir(stateDir);
    expect(await modeOf(stateDir)).toBe(stateDirMode());
    expect(await readFile(join(stateDir, 'state.json'), 'utf8')).toBe('{}');
  });
});

describe('secrets.json', () => {
  it('is created 0600 in a closed .msctl/', async () => {
    const stateDir = join(dir, '.msctl');
    await ensureSecrets(stateDir);
    expect(await modeOf(join(stateDir, 'secrets.json'))).toBe(0o600);
    expect(await modeOf(stateDir)).toBe(stateDirMode());
  });

  it('two msctl starting the same stack at once agree on one set', async () => {
    const stateDir = join(dir, '.msctl');
    const [first, second] = await Promise.all([ensureSecrets(stateDir), ensureSecrets(stateDir)]);
    expect(second).toEqual(first);
    expect(JSON.parse(await readFile(join(stateDir, 'secrets.json'), 'utf8'))).toEqual(first);
    expect(await ensureSecrets(stateDir)).toEqual(first);
  });

  it('one that cannot be read is an error, and is never replaced by new secrets', async () => {
    const stateDir = join(dir, '.msctl');
    // Tests run as root, who reads a file of any mode: a folder in its place cannot be read either.
    await mkdir(join(stateDir, 'secrets.json'), { recursive: true });
    const error = await ensureSecrets(stateDir).catch((caught: unknown) => caught);
    expect(isMsctlError(error) && error.code).toBe('STATE_UNREADABLE');
    expect((await stat(join(stateDir, 'secrets.json'))).isDirectory()).toBe(true);
    expect(existsSync(join(stateDir, 'secrets.json', 'secrets.json'))).toBe(false);
  });

  it("an older msctl's file keeps its two secrets (the database was made with them) and gains the new ones", async () => {
    const stateDir = join(dir, '.msctl');
    await mkdir(stateDir, { mode: 0o700 });
    const old = { jwtSecret: 'j'.repeat(64), postgresPassword: 'p'.repeat(32) };
    await writeFile(join(stateDir, 'secrets.json'), JSON.stringify(old), { mode: 0o644 });

    const secrets = await ensureSecrets(stateDir);

    expect(secrets).toMatchObject(old);
    expect(stackSecretsSchema.safeParse(secrets).success).toBe(true);
    expect(JSON.parse(await readFile(join(stateDir, 'secrets.json'), 'utf8'))).toEqual(secrets);
    expect(await modeOf(join(stateDir, 'secrets.json'))).toBe(0o600);
    expect(await ensureSecrets(stateDir)).toEqual(secrets);
  });
});

describe("the supervisor's control requests", async () => {
  const project = await loadProject(repoRoot);
  const schemas = controlRequestSchemas(project);
  const service = project.manifests[0]!.name;
  const refused = (kind: Parameters<typeof parseControlRequest>[1], body: unknown) => parseControlRequest(schemas, kind, body).ok === false;
  /** An up plan with one scale step that starts `instance` of the service. */
  const scaling = (instance: unknown) => ({
    plan: { requested: [service], steps: [{ target: service, kind: 'service', action: 'scale', reason: 'runs 1 instance, 2 wanted', level: 0, needs: [], instances: { start: [instance], stop: [] } }] },
  });

  it('accepts the names and counts msctl sends', () => {
    const plan = planUp(project.graph, [], new Map());
    expect(parseControlRequest(schemas, 'up', { plan, timeoutSeconds: 90, replicas: { [service]: 2 } })).toMatchObject({ ok: true });
    const scaled = planUp(project.graph, [service], new Map([[service, { name: service, phase: 'healthy' as const }]]), { [service]: 3 });
    expect(scaled.steps.find((step) => step.target === service)?.instances).toEqual({ start: [`${service}#2`, `${service}#3`], stop: [] });
    expect(parseControlRequest(schemas, 'up', { plan: scaled, timeoutSeconds: 90, replicas: { [service]: 3 } })).toMatchObject({ ok: true });
    for (const target of [service, `${service}#2`, 'kafka', 'postgres']) {
      expect(parseControlRequest(schemas, 'restart', { target, timeoutSeconds: 90 })).toMatchObject({ ok: true });
      expect(parseControlRequest(schemas, 'hold', { target })).toMatchObject({ ok: true });
      expect(parseControlRequest(schemas, 'resume', { target })).toMatchObject({ ok: true });
    }
  });

  it.each(['../x', `${service}/../../etc`, '/etc/passwd', 'nosuchservice', `${service}#0`, `${service}#33`, 'kafka#2', `${service}#2/..`, '', 'USERS', 42, null])(
    'refuses the target %j',
    (target) => {
      expect(refused('restart', { target })).toBe(true);
      expect(refused('hold', { target })).toBe(true);
      expect(refused('resume', { target })).toBe(true);
      expect(refused('up', scaling(target))).toBe(true);
    },
  );

  it.each([-1, 0, 1e9, 33, 1.5, Number.NaN, '2', null])('refuses the count %j', (replicas) => {
    expect(refused('up', { plan: { requested: [], steps: [] }, replicas: { [service]: replicas } })).toBe(true);
  });

  it('refuses a timeout that is not a positive number of seconds', () => {
    for (const timeoutSeconds of [-1, 0, 1e12, '90']) expect(refused('restart', { target: service, timeoutSeconds })).toBe(true);
  });

  it('refuses a plan that names anything outside the stack', () => {
    const plan = planUp(project.graph, [], new Map());
    const step = plan.steps.find((s) => s.kind === 'service')!;
    for (const bad of [{ target: '../x' }, { kind: 'infrastructure' }, { level: -1 }, { needs: ['../../etc'] }]) {
      expect(refused('up', { plan: { ...plan, steps: [{ ...step, ...bad }] } })).toBe(true);
    }
    expect(refused('up', { plan: { requested: ['../x'], steps: [] } })).toBe(true);
    expect(refused('up', { plan, replicas: { '../x': 1 } })).toBe(true);
    expect(refused('up', {})).toBe(true);
  });
});
