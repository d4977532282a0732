/** A new snapshot redraws only the lines whose text changed (every drawn line passes through terminalSafe once). */
import { cleanup, render } from 'ink-testing-library';
import { createElement as h } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DashboardView, type DashboardViewProps } from '../../src/dashboard/view';
import { snapshot } from './fixtures';

const drawn = vi.hoisted(() => [] as string[]);
vi.mock('../../src/core/terminal-text', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/core/terminal-text')>();
  return {
    ...actual,
    terminalSafe: (text: string, options?: { newlines?: boolean }) => {
      drawn.push(text);
      return actual.terminalSafe(text, options);
    },
  };
});

afterEach(() => cleanup());

const props = (over: Partial<DashboardViewProps> = {}): DashboardViewProps => ({ snapshot: snapshot(), width: 120, height: 50, color: false, selected: 2, showLogs: false, logLines: [], ...over });

describe('dashboard updates', () => {
  it('a snapshot where only the time moved redraws the header line, not the panels', () => {
    const first = props();
    const view = render(h(DashboardView, first));
    expect(drawn.some((text) => text.includes('events.raw'))).toBe(true);
    drawn.length = 0;
    // The poller keeps the objects of unchanged parts; a new time is a new snapshot.
    view.rerender(h(DashboardView, { ...first, snapshot: { ...first.snapshot, at: '2025-01-01T13:02:12.000Z' } }));
    expect(drawn.length).toBeGreaterThan(0);
    expect(drawn.every((text) => text === 'msctl dashboard' || text.startsWith(' · shop · supervisor running · '))).toBe(true);
    expect(view.lastFrame()).toContain('events.raw');
  });

  it('a changed breaker redraws its own line, not the services or Kafka', () => {
    const first = props();
    const view = render(h(DashboardView, first));
    drawn.length = 0;
    const breakers = first.snapshot.breakers.map((b, i) => (i === 0 ? { ...b, state: 'open' as const, failures: 7 } : b));
    view.rerender(h(DashboardView, { ...first, snapshot: { ...first.snapshot, breakers } }));
    expect(drawn.some((text) => text.trim() === 'OPEN')).toBe(true);
    expect(drawn.some((text) => text.includes('events.raw') || text.trim() === 'gateway')).toBe(false);
    expect(view.lastFrame()).toMatch(/OPEN/);
  });
});
