import type { StackStatus } from './types';

/**
 * What keeps the stack running, in words for `msctl status`: the local supervisor, or docker's
 * watcher (containers restart on a crash without it, not after `docker kill`).
 */
export function keeperLine(status: StackStatus): { running: string; stale: string } {
  return status.runtime === 'docker'
    ? {
        running: `watcher pid ${status.supervisor.pid}`,
        stale: 'the watcher is gone: containers still restart on a crash, not after `docker kill`; `msctl up` starts it again',
      }
    : {
        running: `supervisor pid ${status.supervisor.pid}`,
        stale: 'supervisor is gone (killed or machine restarted): run `msctl up` to start afresh or `msctl down` to clean up',
      };
}
