/**
 * `msctl scaffold new-service <name>`: asks for missing choices on a terminal, calls the core
 * (src/scaffold), prints what it wrote (or would write, with --dry-run) as text or JSON.
 */
import { isPortFree } from '../../../infra/ports';
import { checkNewServiceName, scaffoldNewService, type NewServiceResult } from '../../../scaffold/new-service';
import { askMissing, readlinePrompter } from '../../../scaffold/prompts';
import type { CliContext } from '../../context';
import type { ScaffoldNewServiceOptions } from './command';
import { makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

const size = (bytes: number) => (bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KiB`);

export function renderResult(result: NewServiceResult, options: { color: boolean; verbose: boolean }): string {
  const c = makeChalk(options.color);
  const { spec } = result;
  const lines: string[] = [];
  const folder = `services/${spec.name}/`;
  lines.push(result.dryRun ? `${c.yellow('dry run:')} would write ${c.bold(folder)} (nothing was written)` : `${c.green('created')} ${c.bold(folder)}`);
  lines.push('');
  lines.push(
    formatTable(
      [
        ['port', String(spec.port)],
        ['consumes', spec.consumes.join(', ') || '-'],
        ['produces', spec.produces.join(', ') || '-'],
        ['postgres', spec.postgres ? 'yes' : 'no'],
        ['route', spec.route ? `${spec.route} → /${spec.name} (through the gateway, with a token)` : '-'],
      ],
      { color: options.color },
    ),
  );
  lines.push('');
  lines.push(formatTable(result.files.map((file) => [file.path, size(file.bytes)]), { header: ['FILE', 'SIZE'], color: options.color }));
  if (result.dryRun && options.verbose) {
    for (const file of result.files) lines.push('', c.bold(`── ${file.path}`), file.contents.trimEnd());
  }
  const workspace = result.workspace;
  if (workspace?.workspaces) {
    lines.push('');
    if (workspace.coveredBy) lines.push(`workspace: covered by "${workspace.coveredBy}" in package.json`);
    else lines.push(`workspace: ${result.dryRun ? 'would add' : 'added'} "services/${spec.name}" to package.json`);
  }
  if (!result.dryRun) {
    lines.push('', 'next:');
    lines.push(`  npm install                        ${c.dim('# links the workspace, records it in package-lock.json')}`);
    lines.push(`  npm test -w services/${spec.name}`);
    lines.push(`  npx msctl up                       ${c.dim(`# builds and starts ${spec.name} with the rest`)}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function run(options: ScaffoldNewServiceOptions, context: CliContext): Promise<number> {
  let input = { ...options.input };
  const interactive = context.isTTY && process.stdin.isTTY === true && !context.json && !options.yes;
  if (interactive && (input.consumes === undefined || input.produces === undefined || input.postgres === undefined || input.route === undefined)) {
    await checkNewServiceName(context.projectDir, input.name);
    const prompter = readlinePrompter(process.stdin, context.stdout, context.signal);
    try {
      input = await askMissing(input, prompter);
    } finally {
      prompter.close();
    }
  }
  const result = await scaffoldNewService(context.projectDir, input, { isPortFree: (port) => isPortFree(port), signal: context.signal });
  if (context.json) {
    const files = result.files.map((file) => ({ path: file.path, bytes: file.bytes, ...(context.verbose ? { contents: file.contents } : {}) }));
    const workspace = result.workspace ? { file: result.workspace.file, workspaces: result.workspace.workspaces, coveredBy: result.workspace.coveredBy ?? null, added: result.workspace.added } : null;
    const { spec } = result;
    const body = { name: result.name, dir: result.dir, dryRun: result.dryRun, port: spec.port, description: spec.description, consumes: spec.consumes, produces: spec.produces, postgres: spec.postgres, route: spec.route ?? null, files, workspace };
    context.stdout.write(`${JSON.stringify(body)}\n`);
  } else {
    context.stdout.write(renderResult(result, { color: context.color, verbose: context.verbose }));
  }
  return 0;
}
