/** What runs on the local runtime, as the supervisor or (when it is gone) the state file says. */
import { existsSync } from 'node:fs';
import type { ObservedTarget } from '../../stack/plan';
import type { Project } from '../../stack/project';
import { isOurProcess } from '../processes';
import { controlRequest, pingSupervisor } from './control';
import { readState, socketPath, type StackState } from './state';

export type SupervisorStatus = 'running' | 'stale' | 'none';

export interface Observation {
  supervisor: SupervisorStatus;
  state: StackState | undefined;
  /** Targets as they are now; after a crash of the supervisor, only processes still alive count. */
  targets: Map<string, ObservedTarget>;
}

export const SUPERVISOR_MARKER = 'supervisor.js';

/** Reads what runs: the supervisor's own answer when it is up, else the state file checked against the process table. */
export async function observe(project: Project): Promise<Observation> {
  const socket = socketPath(project.stateDir);
  if (existsSync(socket) && (await pingSupervisor(socket))) {
    const { body } = await controlRequest<StackState>(socket, 'GET', '/state');
    return { supervisor: 'running', state: body, targets: toObserved(body) };
  }
  const state = await readState(project.stateDir);
  if (!state) return { supervisor: 'none', state: undefined, targets: new Map() };
  const targets = new Map<string, ObservedTarget>();
  for (const target of Object.values(state.targets)) {
    const alive = isOurProcess(target.pid, target.commandMarker);
    targets.set(target.name, { name: target.name, phase: alive ? target.phase : 'stopped', ...(alive && target.pid ? { pid: target.pid } : {}) });
  }
  return { supervisor: 'stale', state, targets };
}

function toObserved(state: StackState): Map<string, ObservedTarget> {
  return new Map(Object.values(state.targets).map((t) => [t.name, { name: t.name, phase: t.phase, ...(t.pid ? { pid: t.pid } : {}) }]));
}

