/**
 * Service and infrastructure logs on disk, under `.msctl/logs/`:
 *
 *   <name>.log, <name>.log.1 … <name>.log.<keep>   (newest first; .log is the one being written)
 *
 * Each stored line is `<ISO time of receipt>\t<line as the process wrote it>`, so lines of
 * several logs interleave by time and `--since` works for any output (pino JSON, log4j,
 * plain prints). Lines without that stamp (a file written by someone else) are read too:
 * their time comes from a leading timestamp or a pino `time` field when there is one, else
 * from the line before.
 */
import type { LogLine } from '../types';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, watch, writeSync, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';

export const DEFAULT_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_KEEP = 3;

export const logFileName = (name: string): string => `${name}.log`;

// ---------------------------------------------------------------- writing

export interface RotatingLogWriterOptions {
  dir: string;
  /** The log's name: the file is `<dir>/<name>.log`. */
  name: string;
  /** Rotate before the file would grow past this many bytes. Default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (.log.1 … .log.<keep>). Default 3. */
  keep?: number;
  /** Prefix each line with its time of receipt (`<ISO>\t`). Default true; readLogLines expects it. */
  timestamps?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/**
 * Appends lines to `<dir>/<name>.log`, rotating when it passes maxBytes:
 * .log.<keep-1> → .log.<keep>, …, .log → .log.1, and a fresh .log. Synchronous appends (one
 * write per line), so a line is never split between files and a reader sees whole lines.
 */
export class RotatingLogWriter {
  readonly path: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly timestamps: boolean;
  private readonly now: () => Date;
  private fd: number | undefined;
  private size = 0;
  private readonly partial = new Map<object, { decoder: StringDecoder; text: string }>();
  private readonly defaultSource = {};

  constructor(options: RotatingLogWriterOptions) {
    this.path = join(options.dir, logFileName(options.name));
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keep = options.keep ?? DEFAULT_KEEP;
    this.timestamps = options.timestamps ?? true;
    this.now = options.now ?? (() => new Date());
    mkdirSync(options.dir, { recursive: true });
    this.openCurrent();
  }

  private openCurrent(): void {
    this.fd = openSync(this.path, 'a', 0o644);
    this.size = fstatSync(this.fd).size;
  }

  /** Rotates now (also what happens automatically when the file passes maxBytes). */
  rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    const file = (n: number) => `${this.path}.${n}`;
    if (this.keep <= 0) {
      rmSync(this.path, { force: true });
    } else {
      for (let n = this.keep - 1; n >= 1; n--) if (existsSync(file(n))) renameSync(file(n), file(n + 1));
      if (existsSync(this.path)) renameSync(this.path, file(1));
    }
    this.openCurrent();
  }

  /** Appends one line (a trailing newline, if any, is dropped; inner newlines make several lines). */
  writeLine(line: string): void {
    const lines = line.replace(/\r?\n$/, '').split(/\r?\n/);
    for (const one of lines) this.append(one);
  }

  private append(line: string): void {
    this.appendAll([line]);
  }

  /**
   * Lines that arrived together, stamped with one time and written with as few writes as the
   * rotation allows: a busy service's output costs one write per chunk, not one per line.
   */
  private appendAll(lines: string[]): void {
    if (this.fd === undefined) throw new Error(`log ${this.path} is closed`);
    const stamp = this.timestamps ? `${this.now().toISOString()}\t` : '';
    let pending = '';
    let pendingBytes = 0;
    for (const line of lines) {
      const text = `${stamp}${line}\n`;
      const bytes = Buffer.byteLength(text);
      if (this.size + pendingBytes > 0 && this.size + pendingBytes + bytes > this.maxBytes) {
        if (pending) writeSync(this.fd!, pending);
        this.size += pendingBytes;
        pending = '';
        pendingBytes = 0;
        this.rotate();
      }
      pending += text;
      pendingBytes += bytes;
    }
    if (pending) writeSync(this.fd!, pending);
    this.size += pendingBytes;
  }

  /** Several complete lines at once (each without its newline). */
  writeLines(lines: string[]): void {
    if (lines.length > 0) this.appendAll(lines);
  }

  /**
   * A chunk of a stream: complete lines are written, an unfinished last line waits for the
   * rest. `source` keeps the unfinished lines of several streams (stdout, stderr) apart.
   */
  write(chunk: string | Buffer, source: object = this.defaultSource): string[] {
    let state = this.partial.get(source);
    if (!state) this.partial.set(source, (state = { decoder: new StringDecoder('utf8'), text: '' }));
    const text = state.text + (typeof chunk === 'string' ? chunk : state.decoder.write(chunk));
    const lines = text.split('\n');
    state.text = lines.pop() ?? '';
    const complete = lines.map((line) => line.replace(/\r$/, ''));
    this.writeLines(complete);
    return complete;
  }

  /** Writes every line of a readable (a child's stdout or stderr) as it arrives. Returns a detach function. */
  attach(stream: Readable): () => void {
    const source = {};
    const onData = (chunk: string | Buffer) => this.write(chunk, source);
    const onEnd = () => this.flushSource(source);
    stream.on('data', onData);
    stream.once('end', onEnd);
    return () => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      this.flushSource(source);
    };
  }

  /** Writes the unfinished last line of `source`, if any, and returns it. */
  flushSource(source: object): string | undefined {
    const state = this.partial.get(source);
    if (!state) return undefined;
    const rest = state.text + state.decoder.end();
    this.partial.delete(source);
    if (!rest) return undefined;
    const line = rest.replace(/\r$/, '');
    this.append(line);
    return line;
  }

  /** Writes unfinished lines as they are. */
  flush(): void {
    for (const source of [...this.partial.keys()]) this.flushSource(source);
  }

  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    closeSync(this.fd);
    this.fd = undefined;
  }
}

// ---------------------------------------------------------------- reading

export type { LogLine } from '../types';

/** Where a reader stopped in the current `.log`: its inode and the byte after the last whole line. */
export interface LogPosition {
  ino: number;
  offset: number;
}

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t/;
const LEADING_TIME = /^\[?(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:[.,](\d{1,9}))?(Z| ?UTC| ?[+-]\d\d:?\d\d)?/;

/** The time a line tells by itself: a leading timestamp (log4j, PostgreSQL, ISO) or a pino `time`. */
export function timeInLine(text: string): Date | undefined {
  const lead = LEADING_TIME.exec(text);
  if (lead) {
    const fraction = (lead[3] ?? '0').padEnd(3, '0').slice(0, 3);
    const zone = lead[4]?.trim();
    const suffix = !zone ? '' : zone === 'UTC' || zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
    const date = new Date(`${lead[1]}T${lead[2]}.${fraction}${suffix}`);
    if (!Number.isNaN(date.getTime())) return date;
  }
  if (text.startsWith('{')) {
    try {
      const record = JSON.parse(text) as { time?: unknown };
      if (typeof record.time === 'number' || typeof record.time === 'string') {
        const date = new Date(record.time);
        if (!Number.isNaN(date.getTime())) return date;
      }
    } catch {
      /* not JSON */
    }
  }
  return undefined;
}

/** A stored line → its text and time (`previous` is used when the line tells none). */
export function parseStoredLine(stored: string, target: string, previous?: Date): LogLine {
  const stamp = STAMP.exec(stored);
  if (stamp) return { target, text: stored.slice(stamp[0].length), time: new Date(stamp[1]!) };
  return { target, text: stored, time: timeInLine(stored) ?? previous };
}

/** The files of a log, oldest first: .log.<n> … .log.1, .log (only those present). */
export async function logFiles(dir: string, name: string): Promise<string[]> {
  const base = logFileName(name);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const rotated = entries
    .map((entry) => (entry.startsWith(`${base}.`) ? Number(entry.slice(base.length + 1)) : Number.NaN))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a)
    .map((n) => join(dir, `${base}.${n}`));
  return [...rotated, ...(entries.includes(base) ? [join(dir, base)] : [])];
}

/** True when the log has at least one file. */
export async function logExists(dir: string, name: string): Promise<boolean> {
  return (await logFiles(dir, name)).length > 0;
}

export interface ReadLogOptions {
  dir: string;
  name: string;
  /** Only the last N lines (after `since`). */
  tail?: number;
  /** Only lines written at or after this time. */
  since?: Date;
}

/** Splits a file's text into stored lines; `complete` false keeps an unterminated last line. */
function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => line.replace(/\r$/, ''));
}

/** The lines of a log (all its rotated files, in order) and the position a follower continues from. */
export async function snapshotLog(options: ReadLogOptions): Promise<{ lines: LogLine[]; position: LogPosition | undefined }> {
  const files = await logFiles(options.dir, options.name);
  const current = join(options.dir, logFileName(options.name));
  const perFile: string[][] = [];
  let position: LogPosition | undefined;
  // Newest first, so a plain --tail can stop early.
  let count = 0;
  for (const file of [...files].reverse()) {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch {
      continue; // rotated away meanwhile
    }
    try {
      const info = await handle.stat();
      // A plain --tail reads from the end only as far back as its lines go, not a whole 10 MB file.
      const wanted = options.tail !== undefined && options.since === undefined ? options.tail - count : undefined;
      let { data, from } = wanted !== undefined ? await readLastLines(handle, info.size, wanted) : { data: await readWhole(handle, info.size), from: 0 };
      if (file === current) {
        // Only whole lines: an unfinished last line is left for the follower.
        const end = data.lastIndexOf(0x0a) + 1;
        data = data.subarray(0, end);
        position = { ino: info.ino, offset: from + end };
      }
      const lines = splitLines(data.toString('utf8'));
      perFile.unshift(lines);
      count += lines.length;
    } finally {
      await handle.close();
    }
    if (options.tail !== undefined && options.since === undefined && count >= options.tail) break;
  }
  let previous: Date | undefined;
  let lines: LogLine[] = [];
  for (const fileLines of perFile) {
    for (const stored of fileLines) {
      const line = parseStoredLine(stored, options.name, previous);
      previous = line.time;
      lines.push(line);
    }
  }
  if (options.since) {
    const since = options.since.getTime();
    lines = lines.filter((line) => line.time !== undefined && line.time.getTime() >= since);
  }
  if (options.tail !== undefined) lines = options.tail === 0 ? [] : lines.slice(-options.tail);
  return { lines, position };
}

async function readWhole(handle: FileHandle, size: number): Promise<Buffer> {
  const buffer = Buffer.alloc(size);
  const { bytesRead } = size > 0 ? await handle.read(buffer, 0, size, 0) : { bytesRead: 0 };
  return buffer.subarray(0, bytesRead);
}

/**
 * The end of a file holding at least its last `count` whole lines (and the unfinished one after
 * them, if any), read backwards in 64 KiB steps.
 */
async function readLastLines(handle: FileHandle, size: number, count: number): Promise<{ data: Buffer; from: number }> {
  const STEP = 65_536;
  const chunks: Buffer[] = [];
  let start = size;
  let newlines = 0;
  while (start > 0 && newlines <= count) {
    const length = Math.min(STEP, start);
    start -= length;
    const chunk = Buffer.alloc(length);
    const { bytesRead } = await handle.read(chunk, 0, length, start);
    const read = chunk.subarray(0, bytesRead);
    for (let i = 0; i < read.length; i++) if (read[i] === 0x0a) newlines += 1;
    chunks.unshift(read);
  }
  const data = Buffer.concat(chunks);
  if (start === 0) return { data, from: 0 };
  // Drop the partial first line: the chunk began in the middle of one.
  const skip = data.indexOf(0x0a) + 1;
  return { data: data.subarray(skip), from: start + skip };
}

/** The lines of a log across its rotated files, oldest first, filtered by `since` and cut to `tail`. */
export async function readLogLines(options: ReadLogOptions): Promise<LogLine[]> {
  return (await snapshotLog(options)).lines;
}

// ---------------------------------------------------------------- following

export interface FollowLogOptions {
  dir: string;
  name: string;
  signal: AbortSignal;
  /** Continue from here (from snapshotLog); default: the current end of the log. */
  from?: LogPosition;
  /**
   * How often to look for new data and rotation. Default: every 2 s while the folder is watched
   * (a write or a rotation wakes the follower at once), every 200 ms where it cannot be.
   */
  pollMs?: number;
}

const POLL_MS = 200;
const WATCHED_POLL_MS = 2_000;
/** A write wakes the follower this long later, so that a burst of lines is one read. */
const COALESCE_MS = 30;

/**
 * New lines of a log as they are appended, until `signal` aborts. Survives rotation: when
 * `<name>.log` is a different file (inode) than the one being read, the old one is read to
 * its end first, then the new one from its start. A log that does not exist yet is waited for.
 */
export async function* followLog(options: FollowLogOptions): AsyncGenerator<LogLine> {
  const { dir, name, signal } = options;
  const path = join(dir, logFileName(name));
  let handle: FileHandle | undefined;
  let ino: number | undefined;
  let offset = 0;
  let decoder = new StringDecoder('utf8');
  let partial = '';
  let previous: Date | undefined;
  const buffer = Buffer.alloc(64 * 1024);

  // An idle follower polling every 200 ms cost 0.4 % of a core (a read and a stat each time);
  // watched, it reads when the log is written or rotated, and polls only as a safety net.
  let woken = false;
  let wake: (() => void) | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file !== null && !file.startsWith(logFileName(name))) return;
      woken = true;
      wake?.();
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined;
    });
  } catch {
    watcher = undefined; // no folder yet, or no inotify watches left: polling finds the log
  }
  const pollMs = () => options.pollMs ?? (watcher ? WATCHED_POLL_MS : POLL_MS);

  /** Waits `ms`, or until the log is written to; true when the signal aborted. */
  const pause = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (signal.aborted) return resolve(true);
      const done = (aborted: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        wake = undefined;
        woken = false;
        resolve(aborted);
      };
      const onAbort = () => done(true);
      let timer = setTimeout(() => done(false), woken ? COALESCE_MS : ms);
      signal.addEventListener('abort', onAbort, { once: true });
      wake = () => {
        wake = undefined;
        clearTimeout(timer);
        timer = setTimeout(() => done(false), COALESCE_MS);
      };
    });

  const openFile = async (file: string, at: 'start' | 'end' | number): Promise<boolean> => {
    try {
      const next = await open(file, 'r');
      const info = await next.stat();
      handle = next;
      ino = info.ino;
      offset = at === 'start' ? 0 : at === 'end' ? info.size : Math.min(at, info.size);
      decoder = new StringDecoder('utf8');
      partial = '';
      return true;
    } catch {
      return false;
    }
  };

  /** Reads what was appended since the last read; returns the complete lines. */
  const drain = async (): Promise<LogLine[]> => {
    if (!handle) return [];
    const out: LogLine[] = [];
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      const text = partial + decoder.write(buffer.subarray(0, bytesRead));
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const stored of lines) {
        const line = parseStoredLine(stored.replace(/\r$/, ''), name, previous);
        previous = line.time;
        out.push(line);
      }
    }
    return out;
  };

  const closeFile = async (): Promise<LogLine[]> => {
    const rest = partial + decoder.end();
    partial = '';
    await handle?.close().catch(() => undefined);
    handle = undefined;
    ino = undefined;
    return rest ? [parseStoredLine(rest.replace(/\r$/, ''), name, previous)] : [];
  };

  /**
   * Lines of the rotated files from the one with inode `fromIno` (from `offset` in it, or
   * only the files after it) up to the newest rotated one, oldest first.
   */
  async function* catchUp(fromIno: number, offset: number | 'after'): AsyncGenerator<LogLine> {
    const rotated = (await logFiles(dir, name)).filter((file) => file !== path);
    const inos = await Promise.all(rotated.map((file) => stat(file).then((info) => info.ino, () => -1)));
    const index = inos.indexOf(fromIno);
    if (index === -1) return; // gone (rotated past `keep`): nothing to finish
    for (let i = offset === 'after' ? index + 1 : index; i < rotated.length; i++) {
      if (!(await openFile(rotated[i]!, i === index && offset !== 'after' ? offset : 'start'))) continue;
      for (const line of [...(await drain()), ...(await closeFile())]) yield line;
    }
  }

  try {
    if (options.from) {
      const info = await stat(path).catch(() => undefined);
      if (info && info.ino === options.from.ino) {
        await openFile(path, options.from.offset);
      } else {
        // Rotated since the snapshot: finish the file it was (now .log.N) and any newer rotated one, then the current.
        for await (const line of catchUp(options.from.ino, options.from.offset)) yield line;
        await openFile(path, 'start');
      }
    } else {
      await openFile(path, 'end');
    }

    while (!signal.aborted) {
      for (const line of await drain()) yield line;
      const info = await stat(path).catch(() => undefined);
      if (info && handle && info.ino !== ino) {
        // Rotated: the old file may have got lines since the drain above; read them, then every
        // file rotated after it (several rotations between two polls), then the new current file.
        const oldIno = ino!;
        for (const line of [...(await drain()), ...(await closeFile())]) yield line;
        for await (const line of catchUp(oldIno, 'after')) yield line;
        await openFile(path, 'start');
        continue;
      }
      if (info && !handle) {
        await openFile(path, 'start');
        continue;
      }
      if (info && handle && info.size < offset) {
        offset = 0; // truncated in place
        partial = '';
      }
      if (await pause(pollMs())) break;
    }
  } finally {
    watcher?.close();
    await handle?.close().catch(() => undefined);
  }
}

/** Names of the logs present in a folder (`<name>.log` or only rotated files). */
export function listLogs(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  const names = new Set<string>();
  for (const entry of entries) {
    const match = /^(.+)\.log(?:\.\d+)?$/.exec(entry);
    if (match) names.add(match[1]!);
  }
  return [...names].sort();
}
