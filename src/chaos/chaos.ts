/**
 * Breaking the stack on purpose, so users watch the breakers open and close:
 * kill (SIGKILL / docker kill: the runtime brings it back), stop (stopped and kept stopped for
 * the duration, then started again), pause (SIGSTOP / docker pause: alive but silent, then
 * resumed). Whatever was broken is restored when the duration ends or on Ctrl-C.
 */
import { MsctlError } from '../core/errors';
import type { ProgressSink } from '../core/events';
import { sleep } from '../core/sleep';
import type { ChaosAction, Runtime } from '../runtime/runtime';
import type { RuntimeKind } from '../runtime/types';

export type { ChaosAction } from '../runtime/runtime';

export interface ChaosRequest {
  action: ChaosAction;
  target: string;
  forMs: number;
}

export interface ChaosReport {
  action: ChaosAction;
  target: string;
  runtime: RuntimeKind;
  brokenAt: string;
  restoredAt: string | null;
  /** How it came back: restored by msctl, or by the runtime's own restart. */
  restoredBy: 'msctl' | 'runtime';
  interrupted: boolean;
}

export async function runChaos(runtime: Runtime, request: ChaosRequest, sink: ProgressSink, signal: AbortSignal): Promise<ChaosReport> {
  const status = await runtime.status();
  const target = status.targets.find((t) => t.name === request.target);
  if (!target) {
    throw new MsctlError('USAGE', `no ${request.target} in this stack`, `targets: ${status.targets.map((t) => t.name).join(', ')}`);
  }
  if (target.state === 'stopped' || target.pid === null) {
    throw new MsctlError('NOT_RUNNING', `${request.target} is not running`, `start it with \`msctl up\``);
  }
  const report: ChaosReport = { action: request.action, target: request.target, runtime: runtime.kind, brokenAt: new Date().toISOString(), restoredAt: null, restoredBy: 'msctl', interrupted: false };
  const say = (text: string) => sink.emit({ type: 'message', level: 'info', text });
  const broken = await runtime.breakTarget(target, request.action, request.forMs, sink);
  for (const text of broken.said) say(text);
  report.restoredBy = broken.restoredBy;
  if (!broken.restore) return report;
  try {
    report.interrupted = await sleep(request.forMs, signal);
  } finally {
    say(await broken.restore());
  }
  report.restoredAt = new Date().toISOString();
  return report;
}
