/** The filters of `topics tail`: --key, --type, --where field=value (dotted paths into the JSON value), --grep. */
import { MsctlError } from '../core/errors';
import type { TailMessage } from './message';

export interface WhereClause {
  path: string[];
  op: '=' | '!=';
  value: string;
}

export interface FilterOptions {
  key?: string;
  type?: string;
  where?: string[];
  grep?: string;
}

export function parseWhere(text: string): WhereClause {
  const match = /^([^=!]+?)\s*(!=|=)\s*(.*)$/s.exec(text);
  if (!match || match[1]!.trim() === '') {
    throw new MsctlError('USAGE', `--where ${text}: expected field=value`, 'e.g. --where data.userId=u-1 (a dotted path into the JSON value), or field!=value');
  }
  return { path: match[1]!.trim().split('.'), op: match[2] as '=' | '!=', value: match[3]! };
}

/** The value at a dotted path (array indexes allowed: items.0.id); undefined when absent. */
export function valueAt(root: unknown, path: readonly string[]): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** A field matches `value` when its text form equals it: strings as they are, other values as JSON. */
function matches(actual: unknown, expected: string): boolean {
  if (actual === undefined) return false;
  if (typeof actual === 'string') return actual === expected;
  return JSON.stringify(actual) === expected;
}

/** A predicate for the given filters, or undefined when there are none (the fast path). */
export function compileFilter(options: FilterOptions): ((message: TailMessage) => boolean) | undefined {
  const tests: Array<(message: TailMessage) => boolean> = [];
  if (options.key !== undefined) {
    const key = options.key;
    tests.push((m) => m.key === key);
  }
  if (options.type !== undefined) {
    const type = options.type;
    tests.push((m) => m.cloudEventType === type);
  }
  for (const clause of (options.where ?? []).map(parseWhere)) {
    tests.push((m) => {
      const value = m.value;
      if (value.kind !== 'json') return false;
      const hit = matches(valueAt(value.json, clause.path), clause.value);
      return clause.op === '=' ? hit : !hit;
    });
  }
  if (options.grep !== undefined) {
    let pattern: RegExp;
    try {
      pattern = new RegExp(options.grep);
    } catch (error) {
      throw new MsctlError('USAGE', `--grep ${options.grep}: ${(error as Error).message}`, 'pass a JavaScript regular expression, e.g. --grep "order-[0-9]+"');
    }
    tests.push((m) => {
      const value = m.value;
      // Binary values are searched in their lossy UTF-8 decoding, not in base64.
      const text = value.kind === 'binary' ? m.record.value!.toString('utf8') : value.text;
      return pattern.test(text);
    });
  }
  if (tests.length === 0) return undefined;
  return (m) => tests.every((test) => test(m));
}
