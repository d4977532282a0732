import { PassThrough } from 'node:stream';
import { render as renderInk } from 'ink-testing-library';
import { createElement } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { ProgressBus, type ProgressEvent } from '../../src/core/events';
import { createContext } from '../../src/cli/context';
import { stripAnsi } from '../../src/ui/colors';
import { createJsonRenderer } from '../../src/cli/output/json';
import { createPlainRenderer } from '../../src/cli/output/plain';
import { formatTable, visibleWidth } from '../../src/ui/table';
import { ProgressStore, ProgressView, createTtyRenderer } from '../../src/cli/output/tty';

const ESC = '\u001b[';
const fixedClock = () => new Date('2025-03-01T10:20:30.000Z');

function capture() {
  let text = '';
  const write = (chunk: string) => {
    text += chunk;
    return true;
  };
  return { out: { write }, text: () => text };
}

function emitSample(bus: ProgressBus) {
  bus.emit({ type: 'target', target: 'kafka', phase: 'starting', detail: 'KRaft on 19092' });
  bus.emit({ type: 'target', target: 'postgres', phase: 'healthy' });
  bus.emit({ type: 'log', target: 'users', line: 'listening on 4001' });
  bus.emit({ type: 'target', target: 'data-processing', phase: 'failed', detail: 'exited 1' });
  bus.emit({ type: 'message', level: 'warn', text: 'slow disk' });
  bus.emit({ type: 'done', ok: false, text: '1 service failed' });
}

describe('plain renderer', () => {
  it('prints one line per event without ANSI codes when colour is off', () => {
    const { out, text } = capture();
    const bus = new ProgressBus(fixedClock);
    createPlainRenderer({ out, color: false }).attach(bus);
    emitSample(bus);
    const lines = text().trimEnd().split('\n');
    expect(text()).not.toContain(ESC);
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d {2}kafka +starting {2}KRaft on 19092$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d {2}postgres {2,}healthy$/);
    expect(lines[2]).toMatch(/^users +\| listening on 4001$/);
    expect(lines[3]).toMatch(/ data-processing {2}failed {2}exited 1$/);
    expect(lines[4]).toMatch(/warn: slow disk$/);
    expect(lines[5]).toMatch(/1 service failed$/);
    // Targets line up: the phase starts at the same column once the width is known.
    const local = new Date(fixedClock());
    const hh = String(local.getHours()).padStart(2, '0');
    expect(lines[0]!.startsWith(`${hh}:20:30  `)).toBe(true);
  });

  it('colours targets stably when colour is on', () => {
    const { out, text } = capture();
    const renderer = createPlainRenderer({ out, color: true });
    const at = new Date().toISOString();
    renderer.render({ type: 'log', target: 'users', line: 'a', at });
    renderer.render({ type: 'log', target: 'users', line: 'b', at });
    renderer.render({ type: 'log', target: 'gateway', line: 'c', at });
    const lines = text().trimEnd().split('\n');
    expect(text()).toContain(ESC);
    const prefix = (line: string) => line.slice(0, line.indexOf('users') === -1 ? line.indexOf('gateway') : line.indexOf('users'));
    expect(prefix(lines[0]!)).toBe(prefix(lines[1]!));
    expect(stripAnsi(lines[2]!)).toMatch(/^gateway +\| c$/);
  });

  it('with NO_COLOR=1 the context turns colour off and the renderer prints no escape codes', () => {
    const { out, text } = capture();
    const stream = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    stream.write = out.write as never;
    // main.ts decides colour = !NO_COLOR && !--no-color && chalk can colour; the renderer obeys it.
    const env = { NO_COLOR: '1' };
    const color = !env.NO_COLOR;
    const context = createContext({ json: false, color, verbose: false, projectDir: undefined, signal: new AbortController().signal, stdout: stream, stderr: stream, env });
    const renderer = context.renderer();
    expect(renderer.kind).toBe('plain');
    const bus = new ProgressBus(fixedClock);
    renderer.attach(bus);
    emitSample(bus);
    expect(text()).toContain('kafka');
    expect(text()).not.toContain(ESC);
  });
});

describe('json renderer', () => {
  it('prints each event exactly, one JSON object per line', () => {
    const { out, text } = capture();
    const bus = new ProgressBus(fixedClock);
    const seen: ProgressEvent[] = [];
    bus.subscribe((event) => seen.push(event));
    createJsonRenderer({ out }).attach(bus);
    emitSample(bus);
    const lines = text().trimEnd().split('\n');
    expect(lines).toHaveLength(6);
    const parsed = lines.map((line) => JSON.parse(line) as ProgressEvent);
    expect(parsed).toEqual(seen);
    expect(parsed[0]).toEqual({ type: 'target', target: 'kafka', phase: 'starting', detail: 'KRaft on 19092', at: '2025-03-01T10:20:30.000Z' });
    expect(parsed[2]).toEqual({ type: 'log', target: 'users', line: 'listening on 4001', at: '2025-03-01T10:20:30.000Z' });
    expect(text()).not.toContain(ESC);
  });

  it('is what the context picks with --json, even on a TTY', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true }) as unknown as NodeJS.WriteStream;
    const context = createContext({ json: true, color: true, verbose: false, projectDir: undefined, signal: new AbortController().signal, stdout: stream, stderr: stream });
    expect(context.renderer().kind).toBe('json');
  });
});

describe('tty renderer', () => {
  /** ink redraws on its own schedule: wait for the frame that shows an event, not for a while. */
  const until = (assertion: () => void) => vi.waitFor(assertion, { timeout: 5_000 });

  it('draws one line per target: spinner while busy, ✔ healthy, ✖ failed, detail; logs above', async () => {
    const store = new ProgressStore();
    const bus = new ProgressBus(fixedClock);
    bus.subscribe(store.apply);
    bus.emit({ type: 'target', target: 'kafka', phase: 'starting', detail: 'KRaft on 19092' }); // before mount: not lost
    const ink = renderInk(createElement(ProgressView, { store }));
    bus.emit({ type: 'target', target: 'postgres', phase: 'healthy' });
    bus.emit({ type: 'target', target: 'users', phase: 'failed', detail: 'exited 1' });
    bus.emit({ type: 'log', target: 'users', line: 'boom' });
    await until(() => expect(ink.frames.map(stripAnsi).join('\n')).toContain('users      | boom'));
    const frame = stripAnsi(ink.lastFrame() ?? '');
    const lines = frame.split('\n');
    const kafka = lines.find((line) => line.includes('kafka'))!;
    expect(kafka).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] kafka +starting {2}KRaft on 19092$/);
    expect(lines.find((line) => line.includes('postgres'))).toMatch(/^✔ postgres +healthy$/);
    expect(lines.find((line) => line.includes('users') && !line.includes('|'))).toMatch(/^✖ users +failed {2}exited 1$/);

    bus.emit({ type: 'target', target: 'kafka', phase: 'healthy' });
    bus.emit({ type: 'done', ok: true, text: 'all healthy' });
    await until(() => expect(stripAnsi(ink.lastFrame() ?? '')).toContain('✔ all healthy'));
    expect(stripAnsi(ink.lastFrame() ?? '')).toMatch(/✔ kafka +healthy/);
    ink.unmount();
  });

  it('the context loads it lazily on a TTY, queues early events, and close() unmounts', async () => {
    let written = '';
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 30 }) as unknown as NodeJS.WriteStream;
    stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const context = createContext({ json: false, color: false, verbose: false, projectDir: undefined, signal: new AbortController().signal, stdout: stream, stderr: stream, env: { TERM: 'xterm' } });
    const renderer = context.renderer();
    expect(renderer.kind).toBe('tty');
    const bus = new ProgressBus(fixedClock);
    renderer.attach(bus);
    bus.emit({ type: 'target', target: 'kafka', phase: 'healthy', detail: 'ready' }); // before ink has loaded
    bus.emit({ type: 'done', ok: true, text: 'stack is up' });
    await renderer.close();
    const text = stripAnsi(written);
    expect(text).toMatch(/✔ kafka +healthy {2}ready/);
    expect(text).toContain('✔ stack is up');
  });

  it('falls back to plain lines when stdout is not a TTY', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    expect(createTtyRenderer({ stdout: stream, color: false }).kind).toBe('plain');
  });
});

describe('table', () => {
  it('pads columns to their widest cell, ignoring colour codes', () => {
    const out = formatTable(
      [
        ['ok', 'node', 'Node.js 24'],
        ['\u001b[31mfail\u001b[39m', 'port 4000', 'in use'],
      ],
      { header: ['STATUS', 'CHECK', 'DETAIL'], color: false },
    );
    expect(out.split('\n')).toEqual(['STATUS  CHECK      DETAIL', 'ok      node       Node.js 24', 'fail    port 4000  in use']);
    expect(out).not.toContain(ESC);
  });

  it('keeps colour codes when colour is on and still aligns', () => {
    const out = formatTable([['\u001b[31mfail\u001b[39m', 'x'], ['ok', 'y']], { color: true, align: ['right', 'left'] });
    const lines = out.split('\n');
    expect(lines[0]).toContain(ESC);
    expect(stripAnsi(lines[0]!)).toBe('fail  x');
    expect(lines[1]).toBe('  ok  y');
    expect(visibleWidth(lines[0]!)).toBe(7);
  });
});
