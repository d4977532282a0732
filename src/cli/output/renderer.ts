import type { ProgressBus, ProgressEvent } from '../../core/events';

/** Something that shows progress events: plain lines, JSON lines or the TTY view. */
export interface ProgressRenderer {
  readonly kind: 'tty' | 'plain' | 'json';
  /** Subscribes to a bus; every event it emits from now on is rendered. Returns the unsubscribe function. */
  attach(bus: ProgressBus): () => void;
  /** Renders one event (what attach() does for each event of the bus). */
  render(event: ProgressEvent): void;
  /** Renders what is pending and gives the terminal back (the TTY view unmounts). Idempotent. */
  close(): Promise<void>;
}

/** Where a renderer writes: process.stdout or anything with write(). */
export interface TextOut {
  write(text: string): unknown;
}
