/** JSON lines: each progress event, exactly as emitted (with its `at` stamp), one object per line. */
import type { ProgressBus, ProgressEvent } from '../../core/events';
import type { ProgressRenderer, TextOut } from './renderer';

export function createJsonRenderer(options: { out: TextOut }): ProgressRenderer {
  const render = (event: ProgressEvent): void => void options.out.write(`${JSON.stringify(event)}\n`);
  return { kind: 'json', attach: (bus: ProgressBus) => bus.subscribe(render), render, close: async () => undefined };
}
