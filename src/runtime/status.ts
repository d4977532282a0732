import type { Project } from '../stack/project';
import type { StackStatus } from './local/status';
import { runtimeForExisting } from './select';

export type { StackStatus, TargetStatus } from './local/status';

/** The stack's status from whichever runtime runs it. */
export async function stackStatus(project: Project): Promise<StackStatus> {
  if (runtimeForExisting(project) === 'docker') {
    const { dockerStatus } = await import('./docker/runtime');
    return dockerStatus(project);
  }
  const { localStatus } = await import('./local/status');
  return localStatus(project);
}
