/**
 * `msctl scaffold new-service`: observe the project, plan the new folder (a list of files,
 * printable with --dry-run), then write it atomically. Returns what it did as data.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { MsctlError } from '../core/errors';
import { manifestSchema } from '../stack/manifest';
import { loadProject, type Project } from '../stack/project';
import { parseTopics, validateRoute, validateServiceName } from './names';
import { describeService, findTemplatesDir, loadTemplates, renderTemplates, type RenderedFile, type ServiceSpec } from './render';
import { ensureWorkspace, planWorkspace, readPackageJson, type WorkspaceChange } from './workspaces';
import { writeServiceFolder, type WriteOptions } from './write';

export interface NewServiceInput {
  name: string;
  /** Topic names; each value may be a comma-separated list. */
  consumes?: string[] | undefined;
  produces?: string[] | undefined;
  postgres?: boolean | undefined;
  port?: number | undefined;
  /** A gateway prefix (/api/…), or undefined/false for none. */
  route?: string | false | undefined;
  dryRun?: boolean;
}

export interface NewServiceDeps {
  /** True when nothing listens on the port (the default port skips busy ones). */
  isPortFree: (port: number) => Promise<boolean>;
  /** Default: the project's templates/new-service, else the ones msctl ships. */
  templatesDir?: string;
  signal?: AbortSignal;
  beforeFile?: WriteOptions['beforeFile'];
}

export interface PlannedFile {
  /** Relative to the project root, e.g. services/inventory/service.json. */
  path: string;
  bytes: number;
  contents: string;
}

export interface NewServiceResult {
  name: string;
  /** Absolute path of services/<name>. */
  dir: string;
  dryRun: boolean;
  spec: ServiceSpec;
  files: PlannedFile[];
  workspace: (WorkspaceChange & { file: string }) | undefined;
}

/** The first port above every manifest's that no manifest uses, the infrastructure does not take, and is free. */
export async function defaultPort(project: Pick<Project, 'manifests' | 'infrastructure'>, isPortFree: (port: number) => Promise<boolean>): Promise<number> {
  const taken = new Set<number>([
    ...project.manifests.map((m) => m.port),
    project.infrastructure.kafkaPort,
    project.infrastructure.kafkaControllerPort,
    project.infrastructure.postgresPort,
  ]);
  const highest = Math.max(3999, ...project.manifests.map((m) => m.port));
  for (let port = highest + 1; port <= 65535 && port <= highest + 1000; port++) {
    if (!taken.has(port) && (await isPortFree(port))) return port;
  }
  throw new MsctlError('USAGE', `no free port above ${highest}`, 'pass one with --port');
}

function checkPort(port: number, project: Project): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new MsctlError('USAGE', `--port ${port}: not a port number`, 'use a whole number from 1 to 65535');
  const owner = project.manifests.find((m) => m.port === port);
  if (owner) throw new MsctlError('USAGE', `--port ${port} is already ${owner.name}'s`, 'choose another port, or leave --port out to get a free one');
  return port;
}

/** Validates the input against the project and renders the files; writes nothing. */
export async function planNewService(project: Project, input: NewServiceInput, deps: NewServiceDeps): Promise<{ spec: ServiceSpec; files: RenderedFile[] }> {
  const existing = await readdir(project.servicesDir);
  validateServiceName(input.name, existing);
  const consumes = parseTopics(input.consumes, '--consumes');
  const produces = parseTopics(input.produces, '--produces');
  const taken = project.manifests.flatMap((m) => m.routes.map((r) => ({ prefix: r.prefix.replace(/\/+$/, ''), service: m.name })));
  const route = typeof input.route === 'string' ? validateRoute(input.route, taken) : undefined;
  const port = input.port !== undefined ? checkPort(input.port, project) : await defaultPort(project, deps.isPortFree);
  const postgres = input.postgres ?? false;
  const spec: ServiceSpec = { name: input.name, description: describeService({ consumes, produces, postgres }), port, consumes, produces, postgres, route };

  const templates = await loadTemplates(deps.templatesDir ?? findTemplatesDir(project.root));
  const files = renderTemplates(templates, spec);
  // The templates are data: check that what they made is a manifest msctl will load.
  const manifest = files.find((file) => file.path === 'service.json');
  const parsed = manifest ? manifestSchema.safeParse(JSON.parse(manifest.contents)) : undefined;
  if (!parsed?.success || parsed.data.name !== spec.name) {
    throw new MsctlError('INTERNAL', 'the new-service templates did not produce a valid service.json', `check ${deps.templatesDir ?? 'templates/new-service'}/service.json.tmpl`);
  }
  return { spec, files };
}

export async function scaffoldNewService(projectDir: string | undefined, input: NewServiceInput, deps: NewServiceDeps): Promise<NewServiceResult> {
  const project = await loadProject(projectDir);
  const { spec, files } = await planNewService(project, input, deps);
  const folder = `services/${spec.name}`;
  const dir = join(project.servicesDir, spec.name);
  const packageFile = join(project.root, 'package.json');
  const planned = files.map((file) => ({ path: `${folder}/${file.path}`, bytes: Buffer.byteLength(file.contents), contents: file.contents }));
  const hasPackage = existsSync(packageFile);
  const result = (workspace: WorkspaceChange | undefined): NewServiceResult => ({
    name: spec.name,
    dir,
    dryRun: input.dryRun ?? false,
    spec,
    files: planned,
    workspace: workspace ? { ...workspace, file: packageFile } : undefined,
  });

  if (input.dryRun) return result(hasPackage ? planWorkspace((await readPackageJson(packageFile)).pkg, folder) : undefined);

  let workspace: WorkspaceChange | undefined;
  await writeServiceFolder(project.servicesDir, spec.name, files, {
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...(deps.beforeFile ? { beforeFile: deps.beforeFile } : {}),
    afterRename: async () => {
      if (!hasPackage) return;
      workspace = await ensureWorkspace(packageFile, folder);
    },
  });
  return result(workspace);
}

/** The name checks alone, so a terminal user hears about a bad name before any question. */
export async function checkNewServiceName(projectDir: string | undefined, name: string): Promise<void> {
  const project = await loadProject(projectDir);
  validateServiceName(name, await readdir(project.servicesDir));
}
