/**
 * Output formats of `topics tail`, one record at a time:
 *   json   one line per record: topic, partition, offset, timestamp, key, headers, value (parsed
 *          when JSON; text otherwise; binary as base64 with "valueEncoding":"base64")
 *   pretty a coloured block per record: where, time, CloudEvent type, key, subject, data indented
 *   raw    the value bytes only, one per line (for pipes)
 *   kcat   one line per record with the fields of kcat -J: topic, partition, offset, tstype, ts,
 *          broker, headers (only when there are some: a flat array ["name","value",…]), key,
 *          payload (key and payload as text, or null)
 */
import type { ChalkInstance } from 'chalk';
import type { TailMessage } from './message';
import { textOf } from './message';

export type TailFormat = 'pretty' | 'json' | 'raw' | 'kcat';
export type Formatter = (message: TailMessage) => string | Buffer;

export interface JsonRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  keyEncoding?: 'base64';
  /** Text header values; binary ones as {"base64": "…"}; a repeated header holds an array. */
  headers: Record<string, HeaderValue | HeaderValue[]>;
  value: unknown;
  valueEncoding?: 'base64';
}
type HeaderValue = string | { base64: string };

const headerValue = (buffer: Buffer | undefined): HeaderValue => {
  if (buffer === undefined) return '';
  return textOf(buffer) ?? { base64: buffer.toString('base64') };
};

function headersJson(headers: Record<string, Buffer | Buffer[] | undefined>): string {
  let out = '';
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    out += `${out === '' ? '' : ','}${JSON.stringify(name)}:${JSON.stringify(Array.isArray(value) ? value.map(headerValue) : headerValue(value))}`;
  }
  return `{${out}}`;
}

/** One JSON line (with its newline). Valid JSON values are copied as they are (no re-serialising) when single-line. */
export function jsonLine(m: TailMessage): string {
  const r = m.record;
  const key = r.key;
  let keyPart: string;
  if (key === null) keyPart = 'null';
  else {
    const text = textOf(key);
    keyPart = text === undefined ? `${JSON.stringify(key.toString('base64'))},"keyEncoding":"base64"` : JSON.stringify(text);
  }
  const value = m.value;
  let valuePart: string;
  switch (value.kind) {
    case 'null':
      valuePart = 'null';
      break;
    case 'json':
      valuePart = value.text.includes('\n') || value.text.includes('\r') ? JSON.stringify(value.json) : value.text;
      break;
    case 'text':
      valuePart = JSON.stringify(value.text);
      break;
    case 'binary':
      valuePart = `${JSON.stringify(value.text)},"valueEncoding":"base64"`;
      break;
  }
  return `{"topic":${JSON.stringify(m.topic)},"partition":${m.partition},"offset":${r.offset},"timestamp":${r.timestamp},"key":${keyPart},"headers":${headersJson(r.headers)},"value":${valuePart}}\n`;
}

/** What kcat -J tells beside the record: the broker it was read from, and the kind of timestamp. */
export interface KcatContext {
  leader(topic: string, partition: number): number;
  /** `create` (CreateTime) or `logappend` (LogAppendTime: the topic's message.timestamp.type). */
  timestampType(topic: string): 'create' | 'logappend';
}

const kcatText = (buffer: Buffer | null) => (buffer === null ? 'null' : JSON.stringify(buffer.toString('utf8')));

/** One line as kcat -J prints it (with its newline). */
export function kcatLine(m: TailMessage, context: KcatContext): string {
  const r = m.record;
  const headers: string[] = [];
  for (const name in r.headers) {
    const value = r.headers[name];
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.push(JSON.stringify(name), kcatText(v));
  }
  const headerPart = headers.length > 0 ? `"headers":[${headers.join(',')}],` : '';
  return `{"topic":${JSON.stringify(m.topic)},"partition":${m.partition},"offset":${r.offset},"tstype":"${context.timestampType(m.topic)}","ts":${r.timestamp},"broker":${context.leader(m.topic, m.partition)},${headerPart}"key":${kcatText(r.key)},"payload":${kcatText(r.value)}}\n`;
}

/** The value bytes and a newline. */
export function rawLine(m: TailMessage): Buffer {
  const value = m.record.value;
  return value === null || value.length === 0 ? Buffer.from('\n') : Buffer.concat([value, Buffer.from('\n')]);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
/** Local date and time with milliseconds: 2025-01-31 10:00:00.123 */
export function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const indent = (text: string, by = '  ') => text.replace(/^/gm, by);

/** A pretty block: a header line, then the CloudEvent's data (or the whole value) indented. */
export function prettyFormatter(c: ChalkInstance): Formatter {
  return (m) => {
    const r = m.record;
    const value = m.value;
    const json = value.json as Record<string, unknown> | undefined;
    const isEvent = value.kind === 'json' && json !== null && typeof json === 'object' && !Array.isArray(json) && typeof json.type === 'string' && 'specversion' in json;
    const type = m.cloudEventType;
    const eventTime = isEvent && typeof json.time === 'string' ? Date.parse(json.time) : Number.NaN;
    const parts = [c.dim(`${m.topic}[${m.partition}]@${r.offset}`), c.green(localTime(Number.isNaN(eventTime) ? r.timestamp : eventTime))];
    if (type) parts.push(c.bold.cyan(type));
    if (m.key !== null) parts.push(`${c.dim('key=')}${c.yellow(m.key)}`);
    if (isEvent && typeof json.subject === 'string' && json.subject !== m.key) parts.push(`${c.dim('subject=')}${json.subject}`);
    if (isEvent && typeof json.id === 'string') parts.push(c.dim(`id=${json.id}`));
    let out = `${parts.join('  ')}\n`;
    const headerNames = Object.keys(r.headers).filter((name) => r.headers[name] !== undefined);
    if (headerNames.length > 0) {
      const shown = headerNames.map((name) => {
        const v = r.headers[name];
        const values = (Array.isArray(v) ? v : [v!]).map((b) => textOf(b) ?? `base64:${b.toString('base64')}`);
        return `${name}=${values.join(',')}`;
      });
      out += `${c.dim(`  headers: ${shown.join('  ')}`)}\n`;
    }
    let body: string;
    if (isEvent) body = json.data === undefined ? c.dim('(no data)') : JSON.stringify(json.data, null, 2);
    else if (value.kind === 'json') body = JSON.stringify(value.json, null, 2);
    else if (value.kind === 'text') body = value.text;
    else if (value.kind === 'binary') body = c.dim(`(binary, ${r.value!.length} bytes, base64) `) + value.text;
    else body = c.dim('(null)');
    return `${out}${indent(body)}\n`;
  };
}

export function createFormatter(format: TailFormat, c: ChalkInstance, kcat?: KcatContext): Formatter {
  if (format === 'json') return jsonLine;
  if (format === 'kcat') {
    if (!kcat) throw new Error('the kcat format needs the leaders and timestamp types of the topics');
    return (m) => kcatLine(m, kcat);
  }
  if (format === 'raw') return rawLine;
  return prettyFormatter(c);
}
