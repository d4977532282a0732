/**
 * Progress of long work, as typed events from the core to one sink. Renderers (plain lines,
 * JSON lines, the TTY view) subscribe; the core never prints.
 */
export type TargetPhase =
  | 'planned'
  | 'building'
  | 'built'
  | 'starting'
  | 'waiting'
  | 'healthy'
  | 'running'
  | 'unhealthy'
  | 'restarting'
  | 'stopping'
  | 'stopped'
  | 'failed';

export type ProgressEvent =
  /** A part of the stack (kafka, postgres, a service) changed phase. */
  | { type: 'target'; target: string; phase: TargetPhase; detail?: string; at: string }
  /** A line a service or the infrastructure wrote. */
  | { type: 'log'; target: string; line: string; at: string }
  | { type: 'message'; level: 'info' | 'warn' | 'error'; text: string; at: string }
  /** The work is over: ok, or failed with a message. */
  | { type: 'done'; ok: boolean; text: string; at: string; operation?: string };

export type ProgressEventInput = ProgressEvent extends infer E ? (E extends ProgressEvent ? Omit<E, 'at'> : never) : never;

export interface ProgressSink {
  emit(event: ProgressEventInput): void;
}

type Listener = (event: ProgressEvent) => void;

/** Stamps events with the time and fans them out to subscribers. */
export class ProgressBus implements ProgressSink {
  private readonly listeners = new Set<Listener>();

  constructor(private readonly now: () => Date = () => new Date()) {}

  emit(event: ProgressEventInput): void {
    const stamped = { ...event, at: this.now().toISOString() } as ProgressEvent;
    for (const listener of this.listeners) listener(stamped);
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export const silentSink: ProgressSink = { emit: () => undefined };
