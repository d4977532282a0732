/** The dashboard's frames, rendered by ink (ink-testing-library) from fixed snapshots. */
import { render } from 'ink-testing-library';
import { createElement as h } from 'react';
import chalk from 'chalk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cleanup } from 'ink-testing-library';
import { DashboardApp, type LogSource, type SnapshotSource } from '../../src/dashboard/app';
import { makeChalk, stripAnsi } from '../../src/ui/colors';
import { logLineParts, prettyLine } from '../../src/ui/log-line';
import type { DashboardSnapshot } from '../../src/dashboard/snapshot';
import { DASHBOARD_KEYS, DashboardView, type DashboardViewProps } from '../../src/dashboard/view';
import type { StoredSpan } from '../../src/traces/otlp';
import type { Trace } from '../../src/traces/store';
import { DevBoard } from '../../src/dev/format';
import { snapshot } from './fixtures';

afterEach(() => cleanup());

const frame = (props: Partial<DashboardViewProps> & { snapshot: DashboardSnapshot }) => {
  const { lastFrame } = render(h(DashboardView, { width: 100, height: 50, color: false, selected: 2, showLogs: false, logLines: [], ...props }));
  return lastFrame() ?? '';
};

/** The line of a frame that starts (after the selection marker) with `name` in its first column. */
const row = (text: string, name: string) => text.split('\n').find((line) => new RegExp(`^[ ›] ${name}\\s`).test(line)) ?? '';
const words = (line: string) => line.trim().replace(/^›\s*/, '').split(/\s+/);

describe('dashboard frames', () => {
  it('a stalled consumer: its group says STALLED with its dead letters, and a line says where and why', () => {
    const output = 'stalled on events.processed[0] at offset 28350 for 42 s: invalid byte sequence for encoding "UTF8": 0x00';
    const text = frame({
      snapshot: snapshot({ consumers: [{ service: 'notifications', group: 'notifications', status: 'warn', lag: 7, output, deadLetters5m: 3 }] }),
      width: 160,
    });
    expect(words(row(text, 'GROUP'))).toEqual(['GROUP', 'LAG', 'CONSUMER', 'DLQ', '5M', 'PARTITIONS']);
    expect(words(text.split('\n').find((l) => /^\s+notifications\s+7\b/.test(l)) ?? '')).toEqual(['notifications', '7', 'STALLED', '3', '2']);
    expect(text).toContain(`notifications: ${output}`);
  });

  it('all healthy: every service with its state, uptime, restarts, req/s, p99, memory; every breaker CLOSED; Kafka rates and lag', () => {
    const text = frame({ snapshot: snapshot() });
    expect(text).toContain('SERVICES');
    expect(words(row(text, 'NAME'))).toEqual(['NAME', 'RUNTIME', 'STATE', 'UPTIME', 'RESTARTS', 'REQ/S', 'P99', 'MEM']);
    expect(words(row(text, 'gateway'))).toEqual(['gateway', 'local', 'healthy', '2m05s', '0', '250', '45ms', '85M']);
    expect(words(row(text, 'users'))).toEqual(['users', 'local', 'healthy', '2m05s', '0', '13', '8.3ms', '85M']);
    expect(row(text, 'users').startsWith('›')).toBe(true); // the selected one
    for (const service of ['postgres', 'kafka', 'users', 'data-processing', 'notifications', 'analytics', 'gateway']) expect(row(text, service)).toMatch(/healthy/);
    const breakers = text.split('\n').filter((line) => /^\s+(users|gateway)\s+\S+\s+(CLOSED|OPEN|HALF-OPEN)\b/.test(line));
    expect(breakers).toHaveLength(4);
    expect(breakers.every((line) => line.includes('CLOSED'))).toBe(true);
    expect(words(row(text, 'events.raw'))).toEqual(['events.raw', '240', '3', '5000']);
    expect(words(text.split('\n').find((l) => /^\s+notifications\s+7\b/.test(l)) ?? '')).toEqual(['notifications', '7', '-', '0', '2']);
    expect(text).toContain('↑/↓ select');
    expect(text).not.toMatch(/\u001b\[/); // no colour codes when colour is off
  });

  it('the slowest recent trace per service, with its id to look it up', () => {
    const text = frame({
      snapshot: snapshot({
        slowestTraces: [
          { service: 'gateway', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', operation: 'gateway: POST /api/users', durationMs: 182.4 },
          { service: 'users', traceId: '00f067aa0ba902b7aa3ce929d0e0e473', operation: 'gateway: POST /api/users', durationMs: 1534 },
        ],
      }),
    });
    const line = text.split('\n').find((l) => l.startsWith('SLOWEST TRACES')) ?? '';
    expect(line).toContain('gateway 182ms (4bf92f35)');
    expect(line).toContain('users 1.5s (00f067aa)');
    expect(frame({ snapshot: snapshot() })).not.toContain('SLOWEST TRACES');
  });

  it('a circuit open: the word OPEN (red when coloured), failures, rejects, "retry in 3s", users unhealthy, the change line', () => {
    const base = snapshot();
    const text = frame({
      snapshot: {
        ...base,
        services: base.services.map((s) => (s.name === 'users' ? { ...s, state: 'unhealthy', health: 'fail' } : s)),
        breakers: base.breakers.map((b) => (b.service === 'users' && b.name === 'postgres' ? { ...b, state: 'open', failures: 5, rejects: 12, retryInMs: 2_400 } : b)),
        changes: [{ at: new Date(2025, 0, 1, 13, 2, 11).toISOString(), text: 'users circuit postgres OPEN' }],
      },
    });
    const open = text.split('\n').find((line) => /^\s+users\s+postgres\s/.test(line))!;
    expect(words(open)).toEqual(['users', 'postgres', 'OPEN', '5', '12', 'retry', 'in', '3s']);
    expect(words(row(text, 'users'))[2]).toBe('unhealthy');
    expect(text).toContain('13:02:11 users circuit postgres OPEN');

    // ink colours through chalk, whose level main.ts sets from --no-color/NO_COLOR; tests run off a TTY.
    const level = chalk.level;
    chalk.level = 1;
    const coloured = render(h(DashboardView, { snapshot: { ...base, breakers: [{ ...base.breakers[0]!, state: 'open', retryInMs: 1000 }, { ...base.breakers[1]!, state: 'half-open' }] }, width: 100, height: 50, color: true, selected: 0, showLogs: false, logLines: [] })).lastFrame()!;
    expect(coloured).toMatch(/\u001b\[31m[^\n]*OPEN/); // red
    expect(coloured).toMatch(/\u001b\[33m[^\n]*HALF-OPEN/); // yellow
    chalk.level = level;
    expect(coloured).toMatch(/\u001b\[32mhealthy/); // green
  });

  it('a service restarting: its state word and restart count; the rest unchanged', () => {
    const base = snapshot();
    const text = frame({ snapshot: { ...base, services: base.services.map((s) => (s.name === 'notifications' ? { ...s, state: 'restarting', pid: null, uptimeSeconds: null, restarts: 3, requestsPerSecond: null, p99Ms: null, memoryBytes: null } : s)) } });
    expect(words(row(text, 'notifications'))).toEqual(['notifications', 'local', 'restarting', '-', '3', '-', '-', '-']);
    expect(words(row(text, 'analytics'))[2]).toBe('healthy');
  });

  it('a service down: stopped / failed, no figures; Kafka unreachable is said in its panel', () => {
    const base = snapshot();
    const text = frame({
      snapshot: {
        ...base,
        services: base.services.map((s) =>
          s.name === 'postgres' ? { ...s, state: 'failed', pid: null, uptimeSeconds: null } : s.name === 'analytics' ? { ...s, state: 'stopped', pid: null, uptimeSeconds: null, requestsPerSecond: null, p99Ms: null, memoryBytes: null } : s,
        ),
        breakers: base.breakers,
        kafka: { ...base.kafka, error: 'Connection timeout' },
      },
    });
    expect(words(row(text, 'postgres'))[2]).toBe('failed');
    expect(words(row(text, 'analytics'))).toEqual(['analytics', 'local', 'stopped', '-', '0', '-', '-', '-']);
    expect(text).toContain('KAFKA · unreachable: Connection timeout');
  });

  it('60 columns: no line is wider, the columns that matter stay (name, state, req/s, p99), the others are dropped', () => {
    const base = snapshot();
    const text = frame({
      width: 60,
      snapshot: { ...base, breakers: [...base.breakers, { service: 'data-processing', name: 'postgres:outbox', state: 'open', failures: 10, rejects: 200, retryInMs: 4_000 }], changes: [{ at: base.at, text: 'data-processing circuit postgres:outbox OPEN and a very long explanation that must be cut at the edge' }] },
    });
    const lines = text.split('\n');
    for (const line of lines) expect([...line].length, line).toBeLessThanOrEqual(60);
    expect(words(row(text, 'NAME'))).toEqual(['NAME', 'STATE', 'UPTIME', 'REQ/S', 'P99']);
    expect(words(row(text, 'gateway'))).toEqual(['gateway', 'healthy', '2m05s', '250', '45ms']);
    expect(words(row(text, 'data-processing'))).toEqual(['data-processing', 'healthy', '2m05s', '240', '31ms']);
    const open = lines.find((line) => /postgres:outbox/.test(line))!;
    expect(open).toMatch(/OPEN/);
    expect(open).toMatch(/retry in 4s/);
    // 40 columns still hold the name and the state word.
    const narrow = frame({ width: 40, snapshot: base });
    for (const line of narrow.split('\n')) expect([...line].length, line).toBeLessThanOrEqual(40);
    expect(words(row(narrow, 'gateway')).slice(0, 2)).toEqual(['gateway', 'healthy']);
  });

  it('the log pane draws a log line from its parts: the text as printed, the level in its colour, the keys dim, no colour without it', () => {
    const line = JSON.stringify({ level: 40, time: Date.parse('2025-01-01T12:34:56.789Z'), msg: 'slow query', ms: 1200 });
    const printed = prettyLine(line, makeChalk(false));
    const pane = (color: boolean) => render(h(DashboardView, { snapshot: snapshot(), width: 100, height: 50, color, selected: 2, showLogs: true, logLines: [logLineParts(line)] })).lastFrame()!;
    expect(pane(false)).toContain(printed);
    expect(pane(false)).not.toContain('\u001b[');
    const level = chalk.level;
    chalk.level = 1;
    const coloured = pane(true);
    chalk.level = level;
    expect(stripAnsi(coloured)).toContain(printed);
    expect(coloured).toMatch(/\u001b\[33mWARN/); // yellow
    expect(coloured).toMatch(/\u001b\[2mms=/); // dim
  });

  it('the log pane shows the selected service’s last lines; breakers then only list those not CLOSED', () => {
    const text = frame({ snapshot: snapshot(), showLogs: true, logLines: Array.from({ length: 100 }, (_, i) => `line ${i}`), height: 40 });
    expect(text).toContain('LOGS users');
    expect(text).toContain('line 99');
    expect(text).not.toContain('line 0\n');
    expect(text).toContain('CIRCUIT BREAKERS (4 more CLOSED)');
    expect(text.split('\n').length).toBeLessThanOrEqual(40);
  });
});

const TRACE_ID = '00f067aa0ba902b7aa3ce929d0e0e473';
const span = (over: Partial<StoredSpan>): StoredSpan => ({ traceId: TRACE_ID, spanId: '01'.repeat(8), name: 'op', kind: 'server', service: 'gateway', start: 1_000, end: 1_100, status: 'unset', attributes: {}, ...over });
/** A sign-up's trace: the gateway's request, the users service under it (failed), and `extra` spans more. */
const signUpTrace = (extra = 0): Trace => ({
  traceId: TRACE_ID,
  spans: [
    span({ name: 'POST /api/users' }),
    span({ spanId: '02'.repeat(8), parentSpanId: '01'.repeat(8), service: 'users', name: 'POST /users', start: 1_010, end: 1_090, status: 'error', statusMessage: 'duplicate username' }),
    ...Array.from({ length: extra }, (_, i) => span({ spanId: (100 + i).toString(16).padStart(16, '0'), parentSpanId: '02'.repeat(8), service: 'users', name: `INSERT ${i}`, start: 1_020 + i, end: 1_021 + i })),
  ],
});

describe('the panes opened by keys', () => {
  it('? lists every key with what it does, in place of the panels; the footer names ? and t', () => {
    const text = frame({ snapshot: snapshot(), overlay: { kind: 'keys' } });
    expect(text).toContain('KEYS');
    const listed = text.split('\n');
    for (const { keys, what } of DASHBOARD_KEYS) expect(listed.some((line) => line.trim().startsWith(keys) && line.includes(what.slice(0, 30))), keys).toBe(true);
    expect(DASHBOARD_KEYS.map((k) => k.keys)).toEqual(expect.arrayContaining(['t', '?', 'l', 'g', 'r']));
    expect(text).not.toContain('CIRCUIT BREAKERS');
    expect(text).toContain('t trace');
    expect(text).toContain('? keys');
  });

  it('t: the waterfall of the selected service’s slowest trace, as msctl traces draws it, failure included', () => {
    const text = frame({ snapshot: snapshot(), width: 120, overlay: { kind: 'trace', service: 'users', traceId: TRACE_ID, trace: signUpTrace() } });
    expect(text).toContain('TRACE · the slowest of users in the last 5 minutes');
    expect(text).toContain(`trace ${TRACE_ID}`);
    const users = text.split('\n').find((line) => /^users\s/.test(line)) ?? '';
    expect(users).toMatch(/✗ POST \/users/);
    expect(text).toMatch(/^gateway\s+POST \/api\/users\s+0\.00ms\s+100ms\s+█/m);
    expect(text).toContain('↳ duplicate username');
    expect(text).not.toContain('SERVICES');
  });

  it('t on a trace taller than the terminal: the top of it, and how to see the rest; never taller than the terminal', () => {
    const text = frame({ snapshot: snapshot(), height: 20, overlay: { kind: 'trace', service: 'users', traceId: TRACE_ID, trace: signUpTrace(40) } });
    expect(text.split('\n').length).toBeLessThanOrEqual(20);
    expect(text).toContain('POST /api/users');
    expect(text).toMatch(new RegExp(`… \\d+ more lines: msctl traces ${TRACE_ID}`));
  });

  it('t says why there is no waterfall: no trace in the window, reading, gone from the store, unreadable', () => {
    const pane = (overlay: DashboardViewProps['overlay']) => frame({ snapshot: snapshot(), overlay });
    expect(pane({ kind: 'trace', service: 'postgres', traceId: null })).toContain('no trace of postgres in the last 5 minutes');
    expect(pane({ kind: 'trace', service: 'users', traceId: TRACE_ID })).toContain(`reading trace ${TRACE_ID}`);
    expect(pane({ kind: 'trace', service: 'users', traceId: TRACE_ID, missing: true })).toContain('is no longer stored');
    expect(pane({ kind: 'trace', service: 'users', traceId: TRACE_ID, error: 'EACCES' })).toContain(`could not read trace ${TRACE_ID}: EACCES`);
  });
});

describe('DashboardApp keys', () => {
  const source = (snap: DashboardSnapshot): SnapshotSource => ({ subscribe: () => () => undefined, getSnapshot: () => snap });
  const logs = (): LogSource & { followed: Array<string | null> } => {
    const followed: Array<string | null> = [];
    const lines = ['hello from the log'];
    return { followed, subscribe: () => () => undefined, getLines: () => lines, follow: (t) => void followed.push(t) };
  };
  /** ink renders and runs effects on its own schedule: wait for what a key changes, not for a while. */
  const until = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5_000 });

  it('↓ selects the next service, l opens its log pane, r restarts it, q quits', async () => {
    const restarts: string[] = [];
    const quits: string[] = [];
    const feed = logs();
    const app = render(h(DashboardApp, { source: source(snapshot()), logs: feed, color: false, interactive: true, onRestart: (t) => restarts.push(t), onQuit: (r) => quits.push(r), loadTrace: async () => undefined, size: { columns: 100, rows: 50 } }));
    // ink takes stdin in an effect after the first frame; from then on each key is read as written.
    await until(() => expect(app.stdin.listenerCount('readable')).toBeGreaterThan(0));
    expect(row(stripAnsi(app.lastFrame()!), 'postgres').startsWith('›')).toBe(true);
    app.stdin.write('\u001b[B\u001b[B'); // ↓↓ in one read: both count
    await until(() => expect(row(app.lastFrame()!, 'users').startsWith('›')).toBe(true));
    app.stdin.write('l');
    await until(() => expect(feed.followed.at(-1)).toBe('users'));
    expect(app.lastFrame()).toContain('LOGS users');
    expect(app.lastFrame()).toContain('hello from the log');
    app.stdin.write('\u001b[A'); // ↑ moves the pane to kafka
    await until(() => expect(feed.followed.at(-1)).toBe('kafka'));
    expect(restarts).toEqual([]);
    app.stdin.write('r');
    await until(() => expect(restarts).toEqual(['kafka']));
    expect(quits).toEqual([]);
    app.stdin.write('q');
    await until(() => expect(quits).toEqual(['quit']));
    expect(restarts).toEqual(['kafka']);
  });

  it('t opens the selected service’s slowest trace and closes it; ? opens the keys; Esc closes a pane, then quits', async () => {
    const quits: string[] = [];
    const asked: string[] = [];
    const snap = snapshot({ slowestTraces: [{ service: 'users', traceId: TRACE_ID, operation: 'gateway: POST /api/users', durationMs: 100 }] });
    const app = render(
      h(DashboardApp, {
        source: source(snap),
        logs: logs(),
        color: false,
        interactive: true,
        onRestart: () => undefined,
        onQuit: (r) => quits.push(r),
        loadTrace: async (id) => {
          asked.push(id);
          return signUpTrace();
        },
        size: { columns: 120, rows: 50 },
      }),
    );
    await until(() => expect(app.stdin.listenerCount('readable')).toBeGreaterThan(0));
    app.stdin.write('t'); // postgres is selected: it has no trace
    await until(() => expect(app.lastFrame()).toContain('no trace of postgres in the last 5 minutes'));
    expect(asked).toEqual([]);
    app.stdin.write('t');
    await until(() => expect(app.lastFrame()).toContain('SERVICES'));
    app.stdin.write('\u001b[B\u001b[B'); // users
    await until(() => expect(row(app.lastFrame()!, 'users').startsWith('›')).toBe(true));
    app.stdin.write('t');
    await until(() => expect(app.lastFrame()).toContain(`trace ${TRACE_ID}`));
    expect(asked).toEqual([TRACE_ID]);
    expect(app.lastFrame()).toMatch(/✗ POST \/users/);
    app.stdin.write('t');
    await until(() => expect(app.lastFrame()).toContain('SERVICES'));
    app.stdin.write('?');
    await until(() => expect(app.lastFrame()).toContain('KEYS'));
    app.stdin.write('\u001b');
    await until(() => expect(app.lastFrame()).toContain('SERVICES'));
    expect(quits).toEqual([]);
    app.stdin.write('\u001b');
    await until(() => expect(quits).toEqual(['quit']));
  });
});

describe('msctl dev on the dashboard', () => {
  it('a DEV panel: a line per watched service with its last build, and a failed one with the compiler’s first lines', () => {
    const board = new DevBoard(['gateway', 'users']);
    board.apply({ type: 'reloaded', service: 'gateway', kinds: ['kit'], buildMs: 41.2, typecheckMs: 702, restartMs: 1_430 });
    board.apply({
      type: 'failed',
      service: 'users',
      step: 'typecheck',
      output: "services/users/src/service.ts:240:14 - error TS2322: Type 'string' is not assignable to type 'number'.\n\n240 export const broken: number = 'x';\n",
    });
    const lines = frame({ snapshot: snapshot(), builds: board.getLines(), width: 140 }).split('\n');
    const at = lines.findIndex((line) => line.startsWith('DEV'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]!.trim()).toBe('gateway  rebuilt in 41 ms · type-checked in 702 ms · restarted healthy in 1.4 s');
    expect(lines[at + 2]!.trim()).toBe('users    does not type-check; the running version keeps serving');
    expect(lines[at + 3]!.trim()).toBe("services/users/src/service.ts:240:14 - error TS2322: Type 'string' is not assignable to type 'number'.");
    expect(lines.findIndex((line) => line.startsWith('RECENT CHANGES'))).toBeGreaterThan(at + 3);
  });
});
