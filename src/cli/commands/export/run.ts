/**
 * `msctl export k8s [--out dir]` and `msctl export compose [--out file]`: thin — resolve what the
 * exporters need (images, secrets, the Kafka cluster id), call the pure generators, write.
 */
import { resolve, relative } from 'node:path';
import { ProgressBus, silentSink, type ProgressSink } from '../../../core/events';
import { loadProject, type Project } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { ExportOptions } from './command';
import { createPlainRenderer } from '../../output/plain';

interface ExportResult {
  target: 'k8s' | 'compose';
  project: string;
  out: string;
  files: string[];
  /** Secret files msctl wrote (mode 0600), compose only. */
  secretFiles: string[];
  images: Record<string, string>;
}

/** Progress (image builds) on stderr, so stdout carries only the result; nothing with --json. */
async function withProgress<T>(context: CliContext, work: (sink: ProgressSink) => Promise<T>): Promise<T> {
  if (context.json) return work(silentSink);
  const bus = new ProgressBus();
  const renderer = createPlainRenderer({ out: context.stderr, color: context.color });
  renderer.attach(bus);
  try {
    return await work(bus);
  } finally {
    await renderer.close();
  }
}

async function exportK8s(project: Project, options: Extract<ExportOptions, { target: 'k8s' }>, context: CliContext): Promise<ExportResult> {
  const { k8sExport } = await import('../../../export/k8s');
  const { writeTree } = await import('../../../export/write');
  let tags: Record<string, string> | undefined;
  if (options.build) {
    const { resolveStackImages } = await import('../../../export/images');
    const images = await withProgress(context, (sink) => resolveStackImages(project, { offline: options.offline, infrastructure: false }, sink));
    tags = Object.fromEntries(Object.entries(images.services).map(([service, image]) => [service, image.split(':').at(-1)!]));
  }
  const out = resolve(options.out ?? resolve(project.root, 'deploy', 'k8s'));
  const result = k8sExport(project, { ...(options.registry ? { registry: options.registry } : {}), ...(options.tag ? { tag: options.tag } : {}), ...(tags ? { tags } : {}) });
  const files = await writeTree(out, result.files);
  return { target: 'k8s', project: project.name, out, files, secretFiles: [], images: result.images };
}

async function exportCompose(project: Project, options: Extract<ExportOptions, { target: 'compose' }>, context: CliContext): Promise<ExportResult> {
  const { composeExport, envFileText } = await import('../../../export/compose');
  const { resolveStackImages, stackClusterId } = await import('../../../export/images');
  const { writeAtomically } = await import('../../../export/write');
  const { ensureSecrets } = await import('../../../stack/secrets');
  const out = resolve(options.out ?? resolve(project.root, 'compose.yaml'));
  const images = await withProgress(context, (sink) => resolveStackImages(project, { offline: options.offline, infrastructure: true }, sink));
  const secrets = await ensureSecrets(project.stateDir);
  const result = composeExport({ project, images, secrets, clusterId: await stackClusterId(project), outFile: out });
  for (const file of result.envFiles) await writeAtomically(file.path, envFileText(file), 0o600);
  // No password in it, and PostgreSQL's own user (not the file's owner) runs it.
  await writeAtomically(result.initScript.path, result.initScript.text, 0o644);
  await writeAtomically(out, result.text);
  return {
    target: 'compose',
    project: project.name,
    out,
    files: [out],
    secretFiles: result.envFiles.map((file) => file.path),
    images: { kafka: images.kafka.tag, postgres: images.postgres.tag, ...images.services },
  };
}

export async function run(options: ExportOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const result = options.target === 'k8s' ? await exportK8s(project, options, context) : await exportCompose(project, options, context);
  if (context.json) {
    context.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return;
  }
  const shown = (path: string) => {
    const inside = relative(process.cwd(), path);
    return inside === '' ? '.' : inside.startsWith('..') ? path : inside;
  };
  const lines: string[] = [];
  if (result.target === 'k8s') {
    lines.push(`wrote ${result.files.length} files to ${shown(result.out)}/ (base, overlays/dev, overlays/prod)`);
    lines.push(`  render: kubectl kustomize ${shown(resolve(result.out, 'overlays', 'prod'))}`);
    lines.push(`  apply:  kubectl apply -k ${shown(resolve(result.out, 'overlays', 'dev'))}   (first: the operators, the images and the JWT secret, see ${shown(resolve(result.out, 'README.md'))})`);
  } else {
    lines.push(`wrote ${shown(result.out)}; secrets in ${result.secretFiles.map(shown).join(', ')} (mode 0600)`);
    lines.push(`  run: docker compose -f ${shown(result.out)} up -d`);
  }
  lines.push('images:');
  const width = Math.max(...Object.keys(result.images).map((name) => name.length));
  for (const [name, image] of Object.entries(result.images)) lines.push(`  ${name.padEnd(width)}  ${image}`);
  context.stdout.write(`${lines.join('\n')}\n`);
}
