/** The supervisor's numbered events: a stream that asks for what came after a number gets it, once, then what follows. */
import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/core/events';
import { EventHistory, type NumberedEvent } from '../../src/runtime/local/control';

const line = (text: string): ProgressEvent => ({ type: 'log', target: 'users', line: text, at: '2026-12-04T12:00:00.000Z' });
const texts = (seen: NumberedEvent[]) => seen.map(({ event }) => (event.type === 'log' ? event.line : event.type));

describe('EventHistory', () => {
  it('numbers events in order; a follower without a number gets only new ones', () => {
    const history = new EventHistory();
    history.record(line('a'));
    const seen: NumberedEvent[] = [];
    history.follow(undefined, (numbered) => seen.push(numbered));
    history.record(line('b'));
    expect(seen.map((n) => n.seq)).toEqual([2]);
    expect(texts(seen)).toEqual(['b']);
  });

  it('a follower from a number gets what came after it, then what follows, with no gap and nothing twice', () => {
    const history = new EventHistory();
    for (const text of ['a', 'b', 'c']) history.record(line(text));
    const seen: NumberedEvent[] = [];
    const stop = history.follow(1, (numbered) => seen.push(numbered));
    history.record(line('d'));
    stop();
    history.record(line('e'));
    expect(texts(seen)).toEqual(['b', 'c', 'd']);
    expect(seen.map((n) => n.seq)).toEqual([2, 3, 4]);
  });

  it('keeps at least the last `keep` events, and numbers on past what it dropped', () => {
    const history = new EventHistory(3);
    for (let i = 1; i <= 10; i++) history.record(line(String(i)));
    const seen: NumberedEvent[] = [];
    history.follow(0, (numbered) => seen.push(numbered));
    expect(texts(seen).slice(-3)).toEqual(['8', '9', '10']);
    expect(seen.length).toBeLessThanOrEqual(6);
    expect(seen.at(-1)!.seq).toBe(10);
  });
});
