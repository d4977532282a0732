/** Which broker `msctl topics` talks to: --brokers, else the running stack's (127.0.0.1:<kafkaPort> of the project). */
import { MsctlError, isMsctlError } from '../core/errors';
import { loadProject, type Project } from '../stack/project';

export function parseBrokers(text: string): string[] {
  const brokers = text
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const bad = brokers.filter((b) => !/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(b));
  if (brokers.length === 0 || bad.length > 0) {
    throw new MsctlError('USAGE', `--brokers ${text}: expected host:port[,host:port…]`, 'e.g. --brokers 127.0.0.1:19092');
  }
  return brokers;
}

export async function resolveBrokers(
  option: string | undefined,
  projectDir: string | undefined,
  load: (dir: string | undefined) => Promise<Project> = loadProject,
): Promise<string[]> {
  if (option !== undefined) return parseBrokers(option);
  let project: Project;
  try {
    project = await load(projectDir);
  } catch (error) {
    if (isMsctlError(error) && error.code === 'USAGE') {
      throw new MsctlError('USAGE', `no broker address: ${error.message}`, 'pass --brokers host:port (or run inside an msctl project, or --project-dir <dir>)', { cause: error });
    }
    throw error;
  }
  return [`127.0.0.1:${project.infrastructure.kafkaPort}`];
}
