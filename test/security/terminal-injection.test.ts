/**
 * Services and span senders choose the text msctl prints: a log line or a span name holding
 * escape sequences would clear the user's screen, rewrite what was printed or set their
 * clipboard (OSC 52). `msctl logs`, `msctl traces` and the dashboard print such text without
 * them, and keep their own colours. End to end: spans through the real receiver and store,
 * log lines through the real log writer, both printed by the real commands.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { render } from 'ink-testing-library';
import { createElement as h } from 'react';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run as logs } from '../../src/cli/commands/logs/run';
import { run as traces } from '../../src/cli/commands/traces/run';
import type { CliContext } from '../../src/cli/context';
import { makeChalk } from '../../src/ui/colors';
import { prettyLine } from '../../src/ui/log-line';
import { terminalSafe } from '../../src/core/terminal-text';
import { DashboardView } from '../../src/dashboard/view';
import { RotatingLogWriter } from '../../src/runtime/local/log-files';
import { startTraceReceiver } from '../../src/traces/receiver';
import { readSpans, groupTraces } from '../../src/traces/store';
import { renderWaterfall } from '../../src/traces/waterfall';
import { snapshot } from '../dashboard/fixtures';
import { repoRoot } from '../support/cli';

const CLIPBOARD = '\u001b]52;c;cm0gLXJmIH4K\u0007';
const CLIPBOARD_ST = '\u001b]52;c;cm0gLXJmIH4K\u001b\\';
const CLEAR = '\u001b[2J';
/** A link whose text says one thing and whose target is another (OSC 8), which ink lets through. */
const LINK = '\u001b]8;;https://evil.example\u0007docs\u001b]8;;\u0007';
const HOSTILE = `checkout${CLIPBOARD} done${CLEAR} ${LINK}\u001b[31m red\u009b2J\u007f\r over${CLIPBOARD_ST}\u0000\u0008!`;

/** Any escape or control character a terminal would act on (tab and newline excepted). */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/** What is left once msctl's own colours (SGR) are taken out. */
const withoutOwnColours = (text: string) => text.replace(/\u001b\[[\d;]*m/g, '');

describe('terminalSafe', () => {
  it.each([
    ['OSC 52 ended by BEL', `a${CLIPBOARD}b`, 'ab'],
    ['OSC 52 ended by ST', `a${CLIPBOARD_ST}b`, 'ab'],
    ['OSC title, unterminated', 'a\u001b]0;owned', 'a'],
    ['OSC 8 hyperlink', `a ${LINK} b`, 'a docs b'],
    ['CSI erase display', `a${CLEAR}b`, 'ab'],
    ['CSI colour and cursor', 'a\u001b[1;31mb\u001b[10;1Hc\u001b[?25l', 'abc'],
    ['8-bit CSI', 'a\u009b2Jb', 'ab'],
    ['DCS string', 'a\u001bPq#0;2;0;0;0\u001b\\b', 'ab'],
    ['charset and reset escapes', 'a\u001b(0b\u001bcc', 'abc'],
    ['lone ESC, BEL, backspace, CR, DEL, NUL, C1', 'a\u001b\u0007\u0008\r\u007f\u0000\u0085b', 'ab'],
    ['tab kept', 'a\tb', 'a\tb'],
    ['unicode kept', 'größe → 5 ✓', 'größe → 5 ✓'],
  ])('%s', (_, input, expected) => {
    expect(terminalSafe(input)).toBe(expected);
  });

  it('a newline is a space in one-line text, and kept where lines are meant', () => {
    expect(terminalSafe('a\nb\r\nc')).toBe('a b c');
    expect(terminalSafe('a\nb\r\nc\u001b[2J', { newlines: true })).toBe('a\nb\nc');
  });
});

describe('log lines', () => {
  it('plain text keeps its words and loses the escapes, with or without colour', () => {
    for (const color of [false, true]) {
      const shown = prettyLine(HOSTILE, makeChalk(color));
      expect(shown).not.toMatch(CONTROL);
      expect(shown).toContain('checkout done');
    }
  });

  it("a pino record's escaped control characters (\\u001b in JSON) are not decoded onto the terminal", () => {
    const record = JSON.stringify({ level: 30, time: Date.now(), msg: HOSTILE, [`k${CLEAR}`]: `v${CLIPBOARD}`, err: { message: HOSTILE }, note: 'x\u009b2J' });
    const plain = prettyLine(record, makeChalk(false));
    expect(plain).not.toMatch(CONTROL);
    expect(plain).toContain('INFO');
    expect(plain).toContain('checkout done');
    const coloured = prettyLine(record, makeChalk(true));
    expect(coloured).toContain('\u001b['); // msctl's own colours stay
    expect(withoutOwnColours(coloured)).not.toMatch(CONTROL);
  });
});

describe('the dashboard', () => {
  it('shows service-provided names, health output and log lines without their escapes', () => {
    const shown = snapshot({
      breakers: [{ service: 'users', name: HOSTILE, state: 'open', failures: 3, rejects: 0, retryInMs: 1_000 }],
      consumers: [{ service: 'notifications', group: 'notifications', status: 'fail', lag: 7, output: HOSTILE, deadLetters5m: 0 }],
      changes: [{ at: '2025-01-01T13:02:11.000Z', text: `users ${HOSTILE}` }],
    });
    for (const color of [false, true]) {
      const { lastFrame, unmount } = render(h(DashboardView, { snapshot: shown, width: 200, height: 60, color, selected: 2, showLogs: true, logLines: [prettyLine(HOSTILE, makeChalk(color))] }));
      const frame = lastFrame() ?? '';
      unmount();
      expect(frame).toContain('checkout done');
      expect(withoutOwnColours(frame)).not.toMatch(CONTROL);
    }
  });
});

describe('end to end', () => {
  let dir: string;
  let output: string;
  let context: CliContext;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'msctl-inject-'));
    await mkdir(join(dir, 'services', 'users'), { recursive: true });
    await cp(join(repoRoot, 'services', 'users', 'service.json'), join(dir, 'services', 'users', 'service.json'));
    output = '';
    const stdout = new PassThrough() as unknown as NodeJS.WriteStream;
    stdout.write = ((chunk: string) => {
      output += chunk;
      return true;
    }) as NodeJS.WriteStream['write'];
    context = { json: false, color: true, verbose: false, projectDir: dir, stdout, stderr: stdout, isTTY: true, signal: new AbortController().signal, renderer: () => { throw new Error('not used'); } };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a span named with OSC 52 and an erase, received over OTLP, is listed and drawn without them', async () => {
    const token = randomBytes(32).toString('base64url');
    const tracesDir = join(dir, '.msctl', 'traces');
    const receiver = await startTraceReceiver({ dir: tracesDir, token });
    const traceId = 'ab'.repeat(16);
    const now = BigInt(Date.now()) * 1_000_000n;
    const span = (spanId: string, name: string, extra: Record<string, unknown> = {}) => ({
      traceId,
      spanId,
      name,
      kind: 2,
      startTimeUnixNano: String(now),
      endTimeUnixNano: String(now + 5_000_000n),
      ...extra,
    });
    try {
      const response = await fetch(`${receiver.url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          resourceSpans: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: `users${CLEAR}` } }] },
              scopeSpans: [
                {
                  spans: [
                    span('11'.repeat(8), `POST /checkout${CLIPBOARD}${CLEAR}`),
                    span('22'.repeat(8), `SELECT${CLIPBOARD_ST}`, {
                      parentSpanId: '11'.repeat(8),
                      status: { code: 2, message: `failed${CLEAR}` },
                      events: [{ name: 'exception', attributes: [{ key: 'exception.message', value: { stringValue: `boom${CLIPBOARD}` } }] }],
                    }),
                  ],
                },
              ],
            },
          ],
        }),
      });
      expect(response.status).toBe(200);
    } finally {
      await receiver.close();
    }
    // The store keeps what was sent, as sent: the printing side is what makes it safe.
    const stored = await readSpans(tracesDir);
    expect(stored.map((s) => s.name)).toContain(`POST /checkout${CLIPBOARD}${CLEAR}`);

    expect(await traces({ id: undefined, service: undefined, minDuration: undefined, since: undefined, limit: 20 }, context)).toBe(0);
    expect(output).toContain('POST /checkout');
    expect(withoutOwnColours(output)).not.toMatch(CONTROL);

    output = '';
    expect(await traces({ id: traceId, service: undefined, minDuration: undefined, since: undefined, limit: 20 }, context)).toBe(0);
    expect(output).toContain('POST /checkout');
    expect(output).toContain('failed');
    expect(output).toContain('boom');
    expect(withoutOwnColours(output)).not.toMatch(CONTROL);

    const plain = renderWaterfall(groupTraces(stored)[0]!, { c: makeChalk(false) });
    expect(plain).not.toMatch(CONTROL);
  });

  it('a log line with OSC 52 and an erase, written by the real log writer, is printed by msctl logs without them', async () => {
    const writer = new RotatingLogWriter({ dir: join(dir, '.msctl', 'logs'), name: 'users' });
    writer.writeLine(HOSTILE);
    writer.writeLine(JSON.stringify({ level: 'info', time: Date.now(), msg: `order placed${CLIPBOARD}${CLEAR}` }));
    await writer.close();

    for (const raw of [false, true]) {
      output = '';
      expect(await logs({ services: ['users'], follow: false, tail: undefined, since: undefined, raw }, context)).toBe(0);
      expect(output).toContain('checkout done');
      expect(output).toContain('order placed');
      expect(withoutOwnColours(output)).not.toMatch(CONTROL);
    }
  });
});
