import { getEventListeners } from 'node:events';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { followLog, listLogs, parseStoredLine, readLogLines, RotatingLogWriter, snapshotLog, type LogLine } from '../../src/runtime/local/log-files';
import { parseTimeOrAgo } from '../../src/core/duration';
import { interleave } from '../../src/runtime/local/logs';
import { logLineParts, prettyLine } from '../../src/ui/log-line';
import { makeChalk } from '../../src/ui/colors';
import { MsctlError } from '../../src/core/errors';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'msctl-logs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A clock that advances one second per reading, from 2025-01-01T00:00:00Z. */
const steppingClock = (start = Date.parse('2025-01-01T00:00:00Z')) => {
  let t = start - 1000;
  return () => new Date((t += 1000));
};

describe('RotatingLogWriter', () => {
  it('stamps each line and rotates .log → .log.1 → … keeping `keep` files', async () => {
    // Each stored line is 24 (stamp) + 1 (tab) + 6 ("line-N") + 1 (newline) = 32 bytes; 3 lines fit in 100.
    const writer = new RotatingLogWriter({ dir, name: 'users', maxBytes: 100, keep: 2, now: steppingClock() });
    for (let i = 0; i < 10; i++) writer.writeLine(`line-${i}`);
    writer.close();
    expect((await readdir(dir)).sort()).toEqual(['users.log', 'users.log.1', 'users.log.2']);
    const current = await readFile(join(dir, 'users.log'), 'utf8');
    expect(current).toBe('2025-01-01T00:00:09.000Z\tline-9\n');
    expect(await readFile(join(dir, 'users.log.1'), 'utf8')).toContain('\tline-6\n');
    expect(await readFile(join(dir, 'users.log.2'), 'utf8')).toContain('\tline-3\n');
    // line-0 … line-2 fell off the end.
    const all = await readLogLines({ dir, name: 'users' });
    expect(all.map((l) => l.text)).toEqual(['line-3', 'line-4', 'line-5', 'line-6', 'line-7', 'line-8', 'line-9']);
    expect(all[0]!.time?.toISOString()).toBe('2025-01-01T00:00:03.000Z');
  });

  it('assembles lines from stream chunks, per source', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'gw', timestamps: false });
    const out = new PassThrough();
    const err = new PassThrough();
    writer.attach(out);
    writer.attach(err);
    out.write('hel');
    err.write('oops\n');
    out.write(Buffer.from('lo wörld\nsecond'));
    out.end();
    await new Promise((resolve) => setImmediate(resolve));
    writer.close();
    expect(await readFile(join(dir, 'gw.log'), 'utf8')).toBe('oops\nhello wörld\nsecond\n');
    expect(listLogs(dir)).toEqual(['gw']);
  });

  it('writes a chunk of many lines whole, returns them, and still rotates between two of them at the limit', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'burst', maxBytes: 40, keep: 3, timestamps: false });
    const lines = Array.from({ length: 8 }, (_, i) => `line ${i} of the burst`);
    expect(writer.write(`${lines.join('\n')}\npartial`)).toEqual(lines);
    expect(writer.flushSource({})).toBeUndefined();
    writer.close();
    const files = ['burst.log.3', 'burst.log.2', 'burst.log.1', 'burst.log'];
    const kept = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')))).join('');
    // The unfinished last line is written as it is when the log closes.
    expect(kept).toBe(`${[...lines.slice(2), 'partial'].join('\n')}\n`);
    for (const f of files) expect((await readFile(join(dir, f), 'utf8')).length).toBeLessThanOrEqual(40);
  });

  it('appends to an existing log and counts its size toward rotation', async () => {
    await writeFile(join(dir, 'x.log'), `${'a'.repeat(90)}\n`);
    const writer = new RotatingLogWriter({ dir, name: 'x', maxBytes: 100, timestamps: false });
    writer.writeLine('next line');
    writer.close();
    expect(await readFile(join(dir, 'x.log'), 'utf8')).toBe('next line\n');
    expect((await readFile(join(dir, 'x.log.1'), 'utf8')).length).toBe(91);
  });
});

describe('readLogLines', () => {
  it('tail across rotated files, and since', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'svc', maxBytes: 100, keep: 5, now: steppingClock() });
    for (let i = 0; i < 10; i++) writer.writeLine(`line-${i}`);
    writer.close();
    expect((await readLogLines({ dir, name: 'svc', tail: 4 })).map((l) => l.text)).toEqual(['line-6', 'line-7', 'line-8', 'line-9']);
    expect((await readLogLines({ dir, name: 'svc', tail: 0 })).length).toBe(0);
    const since = new Date('2025-01-01T00:00:07.000Z');
    expect((await readLogLines({ dir, name: 'svc', since })).map((l) => l.text)).toEqual(['line-7', 'line-8', 'line-9']);
    expect((await readLogLines({ dir, name: 'svc', since, tail: 2 })).map((l) => l.text)).toEqual(['line-8', 'line-9']);
    expect(await readLogLines({ dir, name: 'nothing' })).toEqual([]);
  });

  it('a tail of a big log gives its last lines, whole, and where a follower goes on', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}`);
    await writeFile(join(dir, 'big.log'), `${lines.join('\n')}\nunfinished`);
    for (const tail of [1, 3, 700, 20_000, 25_000]) {
      const { lines: got, position } = await snapshotLog({ dir, name: 'big', tail });
      expect(got.map((l) => l.text)).toEqual(lines.slice(-tail));
      expect(position?.offset).toBe(Buffer.byteLength(`${lines.join('\n')}\n`));
    }
  });

  it('reads unstamped logs, taking times from log4j, pino or the line before', async () => {
    await writeFile(
      join(dir, 'kafka.log'),
      `${['[2025-01-01 10:00:00,123] INFO started (kafka.Server)', '  continuation', '{"level":30,"time":1735725600500,"msg":"pino"}', 'no time at all'].join('\n')}\n`,
    );
    const lines = await readLogLines({ dir, name: 'kafka' });
    const local = new Date('2025-01-01T10:00:00.123'); // log4j prints local time
    expect(lines[0]!.time?.getTime()).toBe(local.getTime());
    expect(lines[1]!.time?.getTime()).toBe(local.getTime());
    expect(lines[2]!.time?.toISOString()).toBe('2025-01-01T10:00:00.500Z');
    expect(lines[3]!.time?.toISOString()).toBe('2025-01-01T10:00:00.500Z');
    expect(parseStoredLine('2025-01-01 10:00:00.250 UTC [42] LOG:  ready', 'postgres').time?.toISOString()).toBe('2025-01-01T10:00:00.250Z');
  });
});

/** Follows `generator` in the background: `lines` grows as lines arrive; `done` settles when it ends or has `count`. */
function collect(generator: AsyncGenerator<LogLine>, count: number): { lines: string[]; done: Promise<string[]> } {
  const lines: string[] = [];
  const done = (async () => {
    for await (const line of generator) {
      lines.push(line.text);
      if (lines.length >= count) break;
    }
    return lines;
  })();
  return { lines, done };
}

/**
 * A follower between polls waits in a sleep bound to its signal, which is the only abort
 * listener on it: once there is one, the follower has looked at the log and sleeps.
 */
const followerSleeps = (signal: AbortSignal) =>
  vi.waitFor(() => expect(getEventListeners(signal, 'abort')).toHaveLength(1), { timeout: 5_000 });

/** Waits until the follower has yielded exactly `expected`; a lost line fails with the difference. */
const yielded = (got: { lines: string[] }, expected: string[]) =>
  vi.waitFor(() => expect(got.lines).toEqual(expected), { timeout: 5_000 });

describe('followLog', () => {
  it('yields appended lines and survives rotation (inode change), then stops on abort', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'svc', maxBytes: 200, keep: 2 });
    writer.writeLine('before follow');
    const { lines: initial, position } = await snapshotLog({ dir, name: 'svc' });
    expect(initial.map((l) => l.text)).toEqual(['before follow']);
    const controller = new AbortController();
    const follower = followLog({ dir, name: 'svc', signal: controller.signal, from: position!, pollMs: 20 });
    const got = collect(follower, 20);
    const expected = Array.from({ length: 20 }, (_, i) => `line-${String(i).padStart(2, '0')}-${'x'.repeat(10)}`);
    // 20 lines of ~45 bytes with maxBytes 200: several rotations while following. Waiting for
    // the follower to catch up after every third line puts rotations between its polls.
    for (let i = 0; i < 20; i++) {
      writer.writeLine(expected[i]!);
      if (i % 3 === 0) await yielded(got, expected.slice(0, i + 1));
    }
    await yielded(got, expected);
    expect(await got.done).toEqual(expected);
    writer.close();
    expect((await readdir(dir)).filter((f) => f.startsWith('svc.log.')).length).toBeGreaterThan(0);
    controller.abort();
  });

  it('a follower started from the end ends when aborted, and waits for a log that does not exist yet', async () => {
    const controller = new AbortController();
    const follower = followLog({ dir, name: 'later', signal: controller.signal, pollMs: 20 });
    const got = collect(follower, 2);
    await followerSleeps(controller.signal); // it found no log and waits for one
    const writer = new RotatingLogWriter({ dir, name: 'later' });
    writer.writeLine('first');
    writer.writeLine('second');
    await yielded(got, ['first', 'second']);
    expect(await got.done).toEqual(['first', 'second']);
    writer.close();

    // An hour between polls: the follower can only end by the abort cutting its sleep short.
    const idleController = new AbortController();
    const idle = collect(followLog({ dir, name: 'later', signal: idleController.signal, pollMs: 3_600_000 }), 1);
    let ended = false;
    void idle.done.then(() => (ended = true));
    await followerSleeps(idleController.signal);
    expect(ended).toBe(false);
    idleController.abort();
    await vi.waitFor(() => expect(ended).toBe(true), { timeout: 5_000 });
    expect(await idle.done).toEqual([]);
    expect(getEventListeners(idleController.signal, 'abort')).toHaveLength(0);
  });

  it('loses nothing when the log rotates several times between two polls', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'svc', maxBytes: 120, keep: 5, timestamps: false });
    writer.writeLine('start');
    const controller = new AbortController();
    const follower = followLog({ dir, name: 'svc', signal: controller.signal, pollMs: 150 });
    const got = collect(follower, 12);
    await followerSleeps(controller.signal); // the follower has opened the file and sleeps
    const expected = Array.from({ length: 12 }, (_, i) => `${i}`.padStart(2, '0') + '-'.repeat(38));
    // Synchronous writes: all 4 rotations (3 lines per file) happen before the follower wakes.
    for (const line of expected) writer.writeLine(line);
    await yielded(got, expected);
    expect(await got.done).toEqual(expected);
    controller.abort();
    writer.close();
  });

  it('a write or a rotation wakes an idle follower at once, without waiting for its next poll', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'svc', maxBytes: 120, keep: 5, timestamps: false });
    writer.writeLine('start');
    const controller = new AbortController();
    // An hour between polls: only the folder's watch can bring each line in time.
    const got = collect(followLog({ dir, name: 'svc', signal: controller.signal, pollMs: 3_600_000 }), 6);
    await followerSleeps(controller.signal);
    const expected = Array.from({ length: 6 }, (_, i) => `${i}`.padStart(2, '0') + '-'.repeat(48));
    for (let i = 0; i < expected.length; i++) {
      writer.writeLine(expected[i]!); // every second line rotates the file
      await yielded(got, expected.slice(0, i + 1));
      if (i < expected.length - 1) await followerSleeps(controller.signal);
    }
    expect(await got.done).toEqual(expected);
    expect((await readdir(dir)).filter((f) => f.startsWith('svc.log.')).length).toBeGreaterThan(0);
    controller.abort();
    writer.close();
  });

  it('picks up lines written between the snapshot and a rotation', async () => {
    const writer = new RotatingLogWriter({ dir, name: 'svc', maxBytes: 120, keep: 3, timestamps: false });
    writer.writeLine('a'.repeat(50));
    const { position } = await snapshotLog({ dir, name: 'svc' });
    writer.writeLine('b'.repeat(50)); // still in the snapshot's file
    writer.writeLine('c'.repeat(50)); // rotates: the snapshot's file is now svc.log.1
    const controller = new AbortController();
    const got = collect(followLog({ dir, name: 'svc', signal: controller.signal, from: position!, pollMs: 20 }), 2);
    await yielded(got, ['b'.repeat(50), 'c'.repeat(50)]);
    expect(await got.done).toEqual(['b'.repeat(50), 'c'.repeat(50)]);
    controller.abort();
    writer.close();
  });
});

describe('logs command helpers', () => {
  const now = new Date('2025-01-01T12:00:00Z');
  const parseSince = (text: string, at: Date) => parseTimeOrAgo(text, '--since', at);

  it('parseSince: relative and ISO; anything else is a usage error', () => {
    expect(parseSince('10m', now).toISOString()).toBe('2025-01-01T11:50:00.000Z');
    expect(parseSince('2h', now).toISOString()).toBe('2025-01-01T10:00:00.000Z');
    expect(parseSince('30s', now).toISOString()).toBe('2025-01-01T11:59:30.000Z');
    expect(parseSince('1d', now).toISOString()).toBe('2024-12-31T12:00:00.000Z');
    expect(parseSince('2025-01-01T08:00:00Z', now).toISOString()).toBe('2025-01-01T08:00:00.000Z');
    expect(() => parseSince('yesterday', now)).toThrow(MsctlError);
    expect(() => parseSince('5 parsecs', now)).toThrow(MsctlError);
    expect(() => parseSince('5 parsecs', now)).toThrow(expect.objectContaining({ code: 'USAGE', message: '--since 5 parsecs: not a time' }));
  });

  it('pretty-prints pino lines, leaves others alone', () => {
    const c = makeChalk(false);
    const time = Date.parse('2025-01-01T12:34:56.789Z');
    const local = new Date(time);
    const hhmm = `${String(local.getHours()).padStart(2, '0')}:${String(local.getMinutes()).padStart(2, '0')}`;
    const line = JSON.stringify({ level: 40, time, pid: 1, hostname: 'h', msg: 'slow query', ms: 1200, table: 'users', note: 'two words', err: { type: 'Error', message: 'boom' } });
    expect(prettyLine(line, c)).toBe(`${hhmm}:56.789 WARN  slow query ms=1200 table=users note="two words" err="Error: boom"`);
    expect(prettyLine('plain text', c)).toBe('plain text');
    expect(prettyLine('{"not":"pino"}', c)).toBe('{"not":"pino"}');
  });

  it("a pino line's parts join to the printed text, with the time and keys dim and the level in its colour", () => {
    const time = Date.parse('2025-01-01T12:34:56.789Z');
    const line = JSON.stringify({ level: 50, time, pid: 1, msg: 'write failed', table: 'users', note: 'two words' });
    const parts = logLineParts(line);
    expect(parts.map((part) => part.text).join('')).toBe(prettyLine(line, makeChalk(false)));
    expect(parts.filter((part) => part.dim).map((part) => part.text)).toEqual([prettyLine(line, makeChalk(false)).slice(0, 12), 'table=', 'note=']);
    expect(parts.filter((part) => part.color)).toEqual([{ text: 'ERROR', color: 'red' }]);
    // Plain text next to plain text is one part: a line is a few parts, not a part per word.
    expect(parts).toHaveLength(8);
    expect(prettyLine(line, makeChalk(true))).toBe(parts.map((part) => (part.dim ? makeChalk(true).dim(part.text) : part.color ? makeChalk(true)[part.color](part.text) : part.text)).join(''));
    expect(logLineParts('plain \u001b[2Jtext')).toEqual([{ text: 'plain text' }]);
  });

  it('interleaves logs by time, stable', () => {
    const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s));
    const a: LogLine[] = [{ target: 'a', text: 'a1', time: at(1) }, { target: 'a', text: 'a3', time: at(3) }];
    const b: LogLine[] = [{ target: 'b', text: 'b2', time: at(2) }, { target: 'b', text: 'b3', time: at(3) }];
    expect(interleave([a, b]).map((l) => l.text)).toEqual(['a1', 'b2', 'a3', 'b3']);
  });
});
