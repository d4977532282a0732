/**
 * How `topics tail` sees a record's bytes: JSON when it parses, text when it is valid UTF-8,
 * binary otherwise (shown as base64, never a crash). Decoded lazily and once per record.
 */
import { isUtf8 } from 'node:buffer';
import type { FetchedRecord } from '../infra/kafka/client';

export type ValueKind = 'null' | 'json' | 'text' | 'binary';

export interface DecodedValue {
  kind: ValueKind;
  /** The UTF-8 text (json and text), or base64 (binary); '' for null. */
  text: string;
  /** The parsed value when kind is json. */
  json?: unknown;
}

const NULL_VALUE: DecodedValue = { kind: 'null', text: '' };

/** Could this text be a JSON document? (Cheap test before JSON.parse.) */
function mayBeJson(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    // { [ " - 0-9 t f n
    return c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e;
  }
  return false;
}

export function decodeValue(buffer: Buffer | null): DecodedValue {
  if (buffer === null) return NULL_VALUE;
  if (!isUtf8(buffer)) return { kind: 'binary', text: buffer.toString('base64') };
  const text = buffer.toString('utf8');
  if (mayBeJson(text)) {
    try {
      return { kind: 'json', text, json: JSON.parse(text) };
    } catch {
      /* text */
    }
  }
  return { kind: 'text', text };
}

/** A key or header value: its UTF-8 text, or undefined when the bytes are not UTF-8. */
export function textOf(buffer: Buffer | null | undefined): string | undefined {
  if (buffer === null || buffer === undefined) return undefined;
  return isUtf8(buffer) ? buffer.toString('utf8') : undefined;
}

/** One record plus where it came from, decoded on demand. */
export class TailMessage {
  private decoded: DecodedValue | undefined;
  private keyDecoded: string | null | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly record: FetchedRecord,
  ) {}

  get value(): DecodedValue {
    return (this.decoded ??= decodeValue(this.record.value));
  }

  /** The key as text (binary keys as base64), null when there is none. */
  get key(): string | null {
    if (this.keyDecoded === undefined) {
      const key = this.record.key;
      this.keyDecoded = key === null ? null : (textOf(key) ?? key.toString('base64'));
    }
    return this.keyDecoded;
  }

  /** The first value of a header, as text. */
  header(name: string): string | undefined {
    const value = this.record.headers[name];
    return textOf(Array.isArray(value) ? value[0] : value);
  }

  /** The CloudEvent type: `type` of a structured-mode event, or the ce_type header (binary mode). */
  get cloudEventType(): string | undefined {
    const json = this.value.json as { specversion?: unknown; type?: unknown } | undefined;
    if (json && typeof json === 'object' && typeof json.type === 'string' && json.specversion !== undefined) return json.type;
    return this.header('ce_type');
  }
}
