/**
 * Bad-input requests generated from the gateway's OpenAPI document with fast-check: values that
 * follow each operation's schemas, and values that break them — wrong types, missing and extra
 * fields, malformed JSON, deep nesting, unicode, SQL-ish strings, oversize bodies, odd content
 * types, hostile path and query parameters.
 */
import fc from 'fast-check';
import type { OpenApiDocument } from '../../services/gateway/src/openapi';
import { resolve, type DocumentedOperation } from './openapi-support';

type Schema = Record<string, unknown>;

export const SQL_ISH = [
  "' OR '1'='1",
  "'; DROP TABLE users; --",
  '" OR ""="',
  "1; SELECT pg_sleep(30) --",
  "admin'--",
  "' UNION SELECT password_hash FROM users --",
  "Robert'); DROP TABLE students;--",
  '$1 $2 ::text',
  "%' AND 1=0 --",
  "\\'; TRUNCATE notifications; --",
  '/**/OR/**/1=1',
  "E'\\x27'",
  '${jndi:ldap://x}',
  '{{7*7}}',
  '<script>alert(1)</script>',
];

export const UNICODE = ['Zoë', 'İstanbul', 'ß', '👩🏽‍💻', '𝕏𝕐', 'مرحبا', 'a\u200Db', '\u2028\u2029', 'e\u0301', '\uFFFF', '\u0000', 'x\uD800y', '\u202Etxt.exe'];

const nastyString = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SQL_ISH) },
  { weight: 2, arbitrary: fc.constantFrom(...UNICODE) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 300, maxLength: 3000 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...SQL_ISH), fc.constantFrom(...UNICODE)).map(([a, b]) => `${a}${b}`) },
);

const wrongTyped = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constantFrom(1e308, -0, Number.MAX_SAFE_INTEGER + 2, -1),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  nastyString,
);

/** Values that follow `schema` (within reason: lengths capped), with nasty strings mixed in where strings are free. */
export function arbitraryFor(document: OpenApiDocument, input: unknown, depth = 0, name = ''): fc.Arbitrary<unknown> {
  const schema = resolve<Schema>(document, input);
  const choices = (schema.oneOf ?? schema.anyOf) as unknown[] | undefined;
  if (choices) return fc.oneof(...choices.map((choice) => arbitraryFor(document, choice, depth + 1, name)));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if ('const' in schema) return fc.constant(schema.const);
  switch (schema.type) {
    case 'string': {
      const min = Number(schema.minLength ?? 0);
      const max = Math.min(Number(schema.maxLength ?? 64), 200);
      const within = (value: string) => value.length >= min && value.length <= max;
      if (schema.format === 'uuid') return fc.uuid({ version: 4 });
      if (schema.format === 'date-time') return fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }).map((date) => date.toISOString());
      if (name === 'email') {
        const plausible = fc
          .tuple(fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.constantFrom('', "'o", '+tag', '.x', "'--"), fc.stringMatching(/^[a-z]{2,10}$/))
          .map(([local, extra, domain]) => `${local}${extra}@${domain}.test`);
        return fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: fc.emailAddress() }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
      }
      if (typeof schema.pattern === 'string') {
        return fc.oneof(
          { weight: 4, arbitrary: fc.stringMatching(new RegExp(schema.pattern), { maxLength: max }).filter(within) },
          { weight: 1, arbitrary: nastyString },
        );
      }
      return fc.oneof(
        { weight: 3, arbitrary: fc.string({ minLength: min, maxLength: Math.min(max, 24) }) },
        { weight: 2, arbitrary: nastyString.filter(within) },
      );
    }
    case 'integer':
      return fc.integer({ min: Number(schema.minimum ?? -1_000_000), max: Number(schema.maximum ?? 1_000_000) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return fc.array(arbitraryFor(document, schema.items ?? {}, depth + 1), {
        minLength: Number(schema.minItems ?? 0),
        maxLength: Math.min(Number(schema.maxItems ?? 4), 4),
      });
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, unknown>;
      const required = (schema.required ?? []) as string[];
      if (Object.keys(properties).length === 0) {
        return fc.dictionary(fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom(...SQL_ISH)), fc.oneof(fc.jsonValue({ maxDepth: 2 }), nastyString), { maxKeys: 4 });
      }
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, value] of Object.entries(properties)) record[key] = arbitraryFor(document, value, depth + 1, key);
      return fc.record(record, { requiredKeys: required });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** A value that `schema` most likely refuses: a required field gone, a field of the wrong type, an unknown field, or any JSON at all. */
export function brokenFor(document: OpenApiDocument, input: unknown): fc.Arbitrary<unknown> {
  const valid = arbitraryFor(document, input);
  return fc.oneof(
    fc.tuple(valid, fc.nat()).map(([value, n]) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const keys = Object.keys(value);
      if (keys.length === 0) return value;
      const copy = { ...(value as Record<string, unknown>) };
      delete copy[keys[n % keys.length]!];
      return copy;
    }),
    fc.tuple(valid, fc.nat(), wrongTyped).map(([value, n, wrong]) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrong;
      const keys = Object.keys(value);
      return keys.length === 0 ? wrong : { ...(value as Record<string, unknown>), [keys[n % keys.length]!]: wrong };
    }),
    fc.tuple(valid, fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })).map(([value, key, extra]) =>
      typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value, [key || '__proto__']: extra } : extra,
    ),
    fc.jsonValue({ maxDepth: 3 }),
    wrongTyped,
  );
}

export interface GeneratedRequest {
  kind: string;
  method: string;
  /** The documented operation this request is for. */
  operation: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** A body larger than the limit, made when sent (see oversizeBody). */
  oversize?: Oversize;
  /** When set, the only acceptable status. */
  expectStatus?: number;
}

export type Oversize = 'string' | 'array' | 'junk';

const OVERSIZE_BYTES = 1_048_576 + 64 * 1024;

export function oversizeBody(shape: Oversize): string | Buffer {
  if (shape === 'string') return JSON.stringify({ type: 'big.one', data: { blob: 'x'.repeat(OVERSIZE_BYTES) } });
  if (shape === 'array') return `{"events":[${Array.from({ length: OVERSIZE_BYTES / 28 }, () => '{"type":"a.b","data":{"k":1}}').join(',')}]}`;
  return Buffer.alloc(OVERSIZE_BYTES, 0x7b);
}

/** A nesting `depth` levels deep of objects or arrays, inside an otherwise plausible event. */
const deepBody = fc.tuple(fc.integer({ min: 10, max: 150_000 }), fc.boolean(), fc.constantFrom('bare', 'event', 'batch', 'proto')).map(([depth, arrays, shape]) => {
  const open = arrays ? '['.repeat(depth) : '{"a":'.repeat(depth);
  const close = arrays ? ']'.repeat(depth) : '}'.repeat(depth);
  const inner = `${open}1${close}`;
  if (shape === 'event') return `{"type":"deep.nesting","displayName":${inner},"data":{"x":${inner}}}`;
  if (shape === 'batch') return `{"events":[{"type":"deep.nesting","data":{"x":${inner}}}]}`;
  if (shape === 'proto') return `{"type":"deep.nesting","data":{"x":${inner},"__proto__":{"polluted":1}}}`;
  return inner;
});

const rawBody = fc.oneof(
  fc.constantFrom('{', '{"type":', '[1,2', '{"a":1,}', "{'a':1}", 'null', 'true', '""', '0', '[]', '{}', '\uFEFF{}', '{"a":1}{"b":2}', 'NaN', '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}'),
  fc.string({ maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value).slice(0, -1)),
  deepBody,
);

const contentTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '');

/** Percent-encoded, except the RAW_PATH ones, sent as they are (malformed escapes). */
const RAW = 'raw:';
const encodePathValue = (value: string) =>
  value.startsWith(RAW) ? value.slice(RAW.length) : encodeURIComponent((value as string & { toWellFormed(): string }).toWellFormed());

const pathValue = fc.oneof(
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%AF', '%00', '..;', '%25%32%66', '%F0%9F%92', '%uD83D').map((raw) => `${RAW}${raw}`),
  fc.uuid({ version: 4 }),
  fc.uuid({ version: 4 }).map((id) => id.toUpperCase()),
  fc.constantFrom(...SQL_ISH, ...UNICODE, '', ' ', '%', '%00', '..%2F..', 'me', '0', '-1', '1e9', 'null', 'undefined', '00000000-0000-0000-0000-000000000000'),
  // Not `.` or `..`: the client's URL parser resolves a dot segment before sending (even
  // percent-encoded), so the request would name another path than the documented route.
  fc.string({ maxLength: 40 }).filter((value) => value !== '.' && value !== '..'),
  fc.string({ minLength: 500, maxLength: 3000 }),
);

/** `?a=b&…` from the documented query parameters, with junk values, repeats and unknown names mixed in. */
function queryFor(document: OpenApiDocument, parameters: Array<Record<string, unknown>>): fc.Arbitrary<string> {
  const params = parameters.filter((p) => p.in === 'query');
  const pair = (p: Record<string, unknown>) =>
    fc
      .oneof({ weight: 3, arbitrary: arbitraryFor(document, p.schema, 0, String(p.name)).map(String) }, { weight: 1, arbitrary: nastyString }, { weight: 1, arbitrary: wrongTyped.map((v) => JSON.stringify(v) ?? '') })
      .map((value) => [String(p.name), value] as [string, string]);
  const pairs = fc.tuple(
    ...params.map((p) =>
      fc.oneof(
        { weight: p.required ? 6 : 2, arbitrary: pair(p).map((one) => [one]) },
        { weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) },
        { weight: 1, arbitrary: fc.array(pair(p), { minLength: 2, maxLength: 2 }) },
      ),
    ),
    fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...SQL_ISH)), nastyString), { maxLength: 2 }),
  );
  return pairs.map((groups) => {
    const search = new URLSearchParams();
    for (const [key, value] of groups.flat()) search.append(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  });
}

/** Every kind of request for one documented operation. `ownId` is the fuzzing user's id, used in paths now and then. */
export function requestsFor(document: OpenApiDocument, op: DocumentedOperation, ownId: string): fc.Arbitrary<GeneratedRequest> {
  const parameters = ((op.operation.parameters ?? []) as Array<Record<string, unknown>>).map((p) => resolve<Record<string, unknown>>(document, p));
  const pathParams = parameters.filter((p) => p.in === 'path');
  const safeOwnId = op.method === 'DELETE' ? fc.uuid({ version: 4 }) : fc.constant(ownId);
  const paramValue = (p: Record<string, unknown>) =>
    fc.oneof({ weight: 2, arbitrary: arbitraryFor(document, p.schema).map(String) }, { weight: 1, arbitrary: safeOwnId }, { weight: 2, arbitrary: pathValue });
  const path = fc
    .tuple(fc.tuple(...pathParams.map(paramValue)), queryFor(document, parameters))
    .map(([values, query]) => pathParams.reduce((text, p, i) => text.replace(`{${String(p.name)}}`, encodePathValue(values[i]!)), op.path) + query);

  const bodySchema = (resolve<Record<string, unknown>>(document, op.operation.requestBody ?? {}).content as Record<string, { schema: unknown }> | undefined)?.['application/json']?.schema;
  const json = { 'content-type': 'application/json' };
  const base = (kind: string, headers: Record<string, string>, body?: string | Buffer, expectStatus?: number) =>
    path.map((p): GeneratedRequest => ({ kind, method: op.method, operation: `${op.method} ${op.path}`, path: p, headers, ...(body !== undefined ? { body } : {}), ...(expectStatus ? { expectStatus } : {}) }));

  if (!bodySchema) {
    return fc.oneof(
      { weight: 6, arbitrary: base('params', {}) },
      { weight: 1, arbitrary: fc.tuple(base('params+body', json), rawBody).map(([request, body]) => ({ ...request, body })) },
    );
  }
  return fc.oneof(
    { weight: 5, arbitrary: fc.tuple(base('schema', json), arbitraryFor(document, bodySchema)).map(([request, body]) => ({ ...request, body: JSON.stringify(body) })) },
    { weight: 5, arbitrary: fc.tuple(base('broken', json), brokenFor(document, bodySchema)).map(([request, body]) => ({ ...request, body: JSON.stringify(body) ?? '' })) },
    { weight: 3, arbitrary: fc.tuple(base('malformed', json), rawBody).map(([request, body]) => ({ ...request, body })) },
    {
      weight: 1,
      arbitrary: fc.tuple(base('content-type', {}), contentTypes, arbitraryFor(document, bodySchema)).map(([request, type, body]) => ({
        ...request,
        headers: (type ? { 'content-type': type } : {}) as Record<string, string>,
        body: JSON.stringify(body),
      })),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(base('oversize', json, undefined, 413), fc.constantFrom('string', 'array', 'junk') as fc.Arbitrary<Oversize>).map(([request, oversize]) => ({ ...request, oversize })),
    },
  );
}

const DEEP = 100_000;

/**
 * The hostile cases every run sends whatever the seed, to every operation: bodies nested
 * 100,000 levels deep (objects and arrays, bare, as an event, in a batch, with __proto__), and
 * NUL and lone-surrogate characters in every query parameter and every top-level string field.
 */
export function directedRequests(document: OpenApiDocument, operations: DocumentedOperation[], ownId: string): GeneratedRequest[] {
  const requests: GeneratedRequest[] = [];
  const open = { objects: '{"a":'.repeat(DEEP), arrays: '['.repeat(DEEP) };
  const close = { objects: '}'.repeat(DEEP), arrays: ']'.repeat(DEEP) };
  for (const op of operations) {
    const parameters = ((op.operation.parameters ?? []) as Array<Record<string, unknown>>).map((p) => resolve<Record<string, unknown>>(document, p));
    // Never the fuzzing user's own id in a DELETE: the run needs that user.
    const id = op.method === 'DELETE' ? '6f1c2a4e-0b7d-4c1e-9a3b-2d5e8f7a9c01' : ownId;
    const path = parameters.filter((p) => p.in === 'path').reduce((text, p) => text.replace(`{${String(p.name)}}`, id), op.path);
    const base = { method: op.method, operation: `${op.method} ${op.path}`, headers: { 'content-type': 'application/json' } };
    if (op.method !== 'GET') {
      for (const nesting of ['objects', 'arrays'] as const) {
        const inner = `${open[nesting]}1${close[nesting]}`;
        for (const body of [
          inner,
          `{"type":"deep.nesting","displayName":${inner},"data":{"x":${inner}}}`,
          `{"events":[{"type":"deep.nesting","data":{"x":${inner}}}]}`,
          `{"type":"deep.nesting","data":{"x":${inner},"__proto__":{"polluted":1}}}`,
        ]) {
          requests.push({ ...base, kind: 'directed-deep', path, body });
        }
      }
    }
    for (const character of ['\u0000', 'x\uD800y']) {
      const query = parameters.filter((p) => p.in === 'query').map((p) => `${String(p.name)}=${encodeURIComponent(character.replace('\uD800', '\uFFFD'))}`);
      const rawQuery = parameters.filter((p) => p.in === 'query').map((p) => `${String(p.name)}=${character === '\u0000' ? '%00' : 'x%ED%A0%80y'}`);
      if (query.length > 0) {
        requests.push({ ...base, kind: 'directed-char', path: `${path}?${query.join('&')}`, headers: {} });
        requests.push({ ...base, kind: 'directed-char', path: `${path}?${rawQuery.join('&')}`, headers: {} });
      }
      const bodySchema = (resolve<Record<string, unknown>>(document, op.operation.requestBody ?? {}).content as Record<string, { schema: unknown }> | undefined)?.['application/json']?.schema;
      const schemas = bodySchema ? ((resolve<Record<string, unknown>>(document, bodySchema).oneOf as unknown[] | undefined) ?? [bodySchema]) : [];
      for (const schema of schemas) {
        const properties = Object.keys((resolve<Record<string, unknown>>(document, schema).properties ?? {}) as object);
        const value = Object.fromEntries(properties.map((key) => [key, key === 'data' ? { note: character } : key === 'type' ? 'directed.char' : `a${character}b@c.test`]));
        requests.push({ ...base, kind: 'directed-char', path, body: JSON.stringify(value) });
      }
    }
  }
  return requests;
}
