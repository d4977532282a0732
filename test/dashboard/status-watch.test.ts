/** `msctl status --watch` with a fake status source and a fake sleep: what each mode prints. */
import { describe, expect, it } from 'vitest';
import { renderStatus, watchStatus, type WatchOptions } from '../../src/cli/commands/status/run';
import type { StackStatus } from '../../src/runtime/types';
import { stackStatus, target } from './fixtures';

async function watch(statuses: StackStatus[], mode: WatchOptions['mode'], extra: Partial<WatchOptions> = {}) {
  const abort = new AbortController();
  const out: string[] = [];
  let i = 0;
  let clock = Date.parse('2025-01-01T13:00:00Z');
  await watchStatus(async () => statuses[Math.min(i++, statuses.length - 1)]!, {
    mode,
    intervalMs: 2_000,
    color: false,
    signal: abort.signal,
    write: (text) => out.push(text),
    now: () => new Date(clock),
    sleep: async (ms) => {
      clock += ms;
      if (i >= statuses.length) abort.abort();
    },
    ...extra,
  });
  return out;
}

const healthy = (uptime: number) => stackStatus([target('users', { uptimeSeconds: uptime }), target('gateway', { uptimeSeconds: uptime })]);
const usersDown = stackStatus([target('users', { state: 'restarting', pid: null, uptimeSeconds: null, restarts: 1 }), target('gateway', { uptimeSeconds: 14 })]);

describe('status --watch', () => {
  it('off a terminal: a timestamped table when something changed (uptime ticking is not a change)', async () => {
    const out = await watch([healthy(10), healthy(12), usersDown, usersDown], 'plain');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^--- 2025-01-01T13:00:00\.000Z\n/);
    expect(out[0]).toMatch(/users\s+healthy/);
    expect(out[1]).toMatch(/^--- 2025-01-01T13:00:04\.000Z\n/);
    expect(out[1]).toMatch(/users\s+restarting/);
    expect(out.join('')).not.toMatch(/\u001b/);
  });

  it('off a terminal, an unchanged stack is printed again after repeatAfterMs', async () => {
    const out = await watch([healthy(1), healthy(3), healthy(5), healthy(7)], 'plain', { repeatAfterMs: 4_000 });
    expect(out).toHaveLength(2);
  });

  it('--json: one status per line per interval, with its time', async () => {
    const out = await watch([healthy(10), usersDown], 'json');
    expect(out).toHaveLength(2);
    const lines = out.map((line) => JSON.parse(line) as StackStatus & { at: string });
    expect(lines[0]!.at).toBe('2025-01-01T13:00:00.000Z');
    expect(lines[1]!.targets[0]!.state).toBe('restarting');
    expect(out.every((line) => line.endsWith('\n') && line.indexOf('\n') === line.length - 1)).toBe(true);
  });

  it('on a terminal: clears once, then redraws in place from the top', async () => {
    const out = await watch([healthy(10), healthy(12)], 'tty');
    expect(out[0]!.startsWith('\u001b[2J\u001b[H')).toBe(true);
    expect(out[1]!.startsWith('\u001b[H')).toBe(true);
    expect(out[1]).toMatch(/users\s+healthy/);
    expect(out[1]!.endsWith('\u001b[J')).toBe(true);
  });
});

describe('msctl status', () => {
  it('names a consumer check as such and says under the table why a check does not pass', () => {
    const output = 'stalled on events.processed[0] at offset 28350 for 42 s: invalid byte sequence for encoding "UTF8": 0x00';
    const text = renderStatus(
      stackStatus([
        target('notifications', {
          health: 'warn',
          checks: { 'kafka:connection': 'pass', 'kafka:consumer:notifications': 'warn', 'postgres:connection': 'pass' },
          problems: { 'kafka:consumer:notifications': output },
        }),
      ]),
      false,
    );
    expect(text).toMatch(/notifications\s+healthy\s+warn .*kafka pass, consumer warn, postgres pass/);
    expect(text).toContain(`notifications: consumer notifications ${output}`);
  });
});
