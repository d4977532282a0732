import { connectTopicsKafka } from '../../../infra/kafka/client';
import { isPortFree } from '../../../infra/ports';
import { loadProject, type Project } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { CompletionOptions } from './command';
import { completionScript } from './scripts';
import { completeWords, completionRequest, type DynamicKind, projectDirOf } from './tree';

/** A shell waits for the answer on every Tab: Kafka gets this long, then the answer is empty. */
const KAFKA_BUDGET_MS = 1_500;

async function fromKafka(project: Project, what: 'topics' | 'groups'): Promise<string[]> {
  const port = project.infrastructure.kafkaPort;
  // Nothing listens: the stack is down, and there is nothing to wait for.
  if (await isPortFree(port)) return [];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<string[]>((resolve) => {
    timer = setTimeout(() => resolve([]), KAFKA_BUDGET_MS);
  });
  const asked = (async () => {
    const kafka = await connectTopicsKafka([`127.0.0.1:${port}`], 'msctl-completion');
    try {
      return what === 'topics' ? (await kafka.listTopics()).filter((name) => !name.startsWith('__')) : (await kafka.listGroups()).map((group) => group.groupId);
    } finally {
      await kafka.close().catch(() => undefined);
    }
  })();
  try {
    return await Promise.race([asked, late]);
  } finally {
    clearTimeout(timer);
    asked.catch(() => undefined);
  }
}

async function dynamicValues(what: DynamicKind, projectDir: string | undefined): Promise<string[]> {
  const project = await loadProject(projectDir);
  if (what === 'services') return project.manifests.map((manifest) => manifest.name);
  if (what === 'targets') return project.graph.startOrder();
  return fromKafka(project, what);
}

export async function run(options: CompletionOptions, context: CliContext): Promise<number> {
  if (options.mode === 'script') {
    context.stdout.write(completionScript(options.shell));
    return 0;
  }
  // Whatever goes wrong (no project, Kafka away), a completion offers nothing and says nothing.
  try {
    const request = completionRequest(options.tree(), options.words);
    const candidates =
      request.kind === 'words' ? request.words : request.kind === 'dynamic' ? await dynamicValues(request.what, projectDirOf(options.words) ?? context.projectDir) : [];
    const matches = completeWords(candidates, options.words.at(-1) ?? '');
    context.stdout.write(matches.map((word) => `${word}\n`).join(''));
  } catch {
    /* nothing to offer */
  }
  return 0;
}
