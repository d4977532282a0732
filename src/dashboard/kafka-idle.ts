/**
 * kafkajs 2.2.4's request queue re-arms its "check pending requests" timer after every answer,
 * even when nothing is pending and nothing throttles: the delay is then negative, Node fires it
 * after 1 ms, and it re-arms again. Every broker connection left open wakes the process a
 * thousand times a second, for as long as it stays open (the TimeoutNegativeWarning msctl
 * silences is this timer). The dashboard keeps its admin connection open between readings, so
 * in its process the check is armed only when it has work: a request waiting, or a throttle to
 * wait out, which is when kafkajs means to arm it.
 */
import { createRequire } from 'node:module';

interface RequestQueue {
  pending: unknown[];
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
}

const PATCHED = Symbol.for('msctl.kafkajs.idleRequestQueue');
const load = createRequire(import.meta.url);

export function quietIdleKafkaQueues(): void {
  let queue: RequestQueue & { [PATCHED]?: true };
  try {
    queue = (load('kafkajs/src/network/requestQueue/index.js') as { prototype: typeof queue }).prototype;
  } catch {
    return; // another kafkajs layout: it keeps its own timers, the dashboard still works
  }
  if (queue[PATCHED] || typeof queue.scheduleCheckPendingRequests !== 'function') return;
  const schedule = queue.scheduleCheckPendingRequests;
  queue.scheduleCheckPendingRequests = function (this: RequestQueue) {
    if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
    schedule.call(this);
  };
  queue[PATCHED] = true;
}
