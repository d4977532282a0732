/**
 * The request generator: picks the next request of a plan (smooth weighted round robin, so a
 * 1-in-200 share is exactly that) and fills its {{placeholders}}:
 *
 *   {{uuid}}   a random UUID            {{seq}}    1, 2, 3… per generator
 *   {{id}}     a short unique id        {{run}}    the run's id
 *   {{token}}  a user's access token    {{userId}} that same user's id
 *   {{now}}    the current ISO time
 *
 * `createGenerator` must stay self-contained (no imports, nothing from the module scope): for
 * autocannon's worker threads its source text is written into a CommonJS file.
 */
import type { Plan } from './types';

export const PLACEHOLDERS = ['uuid', 'seq', 'id', 'run', 'token', 'userId', 'now'] as const;

export interface GeneratedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  group: string;
}

/** What a generator reports for each answer: group, status (0 = no answer), latency in ms, events accepted. */
export type ResponseSink = (group: string, status: number, latencyMs: number, accepted: number) => void;

export interface Generator {
  next(): GeneratedRequest;
  /** An autocannon `setupRequest`: fills the next request and stamps its send time in the context. */
  setupRequest(request: Record<string, unknown>, context: Record<string, unknown>): Record<string, unknown>;
  /** An autocannon `onResponse`: reports the answer to the sink. */
  onResponse(status: number, body: string, context: Record<string, unknown>): void;
  /** Events accepted in a 202 answer's body ({accepted: n}); 0 otherwise. */
  acceptedIn(group: string, status: number, body: string): number;
  /** Real requests sent and not answered yet. */
  outstanding(): number;
}

/** The path of drain requests (a 404 the gateway answers itself, cheaply). */
export const DRAIN_PATH = '/__msctl-load-test-drain';

export function createGenerator(plan: Plan, sink: ResponseSink): Generator {
  type Part = string | { key: string };
  const compile = (text: string): Part[] => {
    const parts: Part[] = [];
    const pattern = /\{\{\s*(\w+)\s*\}\}/g;
    let last = 0;
    let match: RegExpExecArray | null;
    while ((match = pattern.exec(text)) !== null) {
      if (match.index > last) parts.push(text.slice(last, match.index));
      parts.push({ key: match[1] as string });
      last = match.index + match[0].length;
    }
    if (last < text.length) parts.push(text.slice(last));
    return parts;
  };
  const templates = plan.templates.map((t) => ({
    group: t.group,
    weight: t.weight,
    current: 0,
    method: t.method,
    path: compile(t.path),
    headers: Object.entries(t.headers).map(([name, value]) => [name, compile(value)] as const),
    body: t.body === undefined ? undefined : compile(t.body),
  }));
  const totalWeight = templates.reduce((sum, t) => sum + t.weight, 0);
  const prefix = Math.random().toString(36).slice(2, 8);
  let seq = 0;
  let outstanding = 0;

  const render = (parts: Part[], values: Record<string, string>): string => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : (values[part.key] ?? '');
    return out;
  };

  const pick = () => {
    // Smooth weighted round robin (nginx): exact shares, evenly interleaved.
    let best = templates[0]!;
    for (const t of templates) {
      t.current += t.weight;
      if (t.current > best.current) best = t;
    }
    best.current -= totalWeight;
    return best;
  };

  const next = (): GeneratedRequest => {
    const t = pick();
    seq += 1;
    const identity = plan.identities.length > 0 ? plan.identities[seq % plan.identities.length] : undefined;
    const values: Record<string, string> = {
      seq: String(seq),
      id: `${prefix}${seq.toString(36)}`,
      run: plan.runId,
      token: identity?.token ?? '',
      userId: identity?.userId ?? '',
      now: new Date().toISOString(),
      uuid: '',
    };
    const needsUuid = (parts: Part[] | undefined) => parts?.some((p) => typeof p !== 'string' && p.key === 'uuid');
    if (needsUuid(t.body) || needsUuid(t.path)) values.uuid = globalThis.crypto.randomUUID();
    const headers: Record<string, string> = {};
    for (const [name, parts] of t.headers) headers[name] = render(parts, values);
    return { method: t.method, path: render(t.path, values), headers, body: t.body ? render(t.body, values) : undefined, group: t.group };
  };

  const acceptedIn = (_group: string, status: number, body: string): number => {
    if (status !== 202 || !body.includes('"accepted"')) return 0;
    try {
      const parsed = JSON.parse(body) as { accepted?: unknown };
      return typeof parsed.accepted === 'number' ? parsed.accepted : 0;
    } catch {
      return 0;
    }
  };

  return {
    next,
    acceptedIn,
    outstanding: () => outstanding,
    setupRequest(request, context) {
      if (plan.measureUntil !== undefined && Date.now() >= plan.measureUntil) {
        context.group = '__drain';
        request.method = 'GET';
        request.path = '/__msctl-load-test-drain';
        request.headers = {};
        request.body = '';
        return request;
      }
      outstanding++;
      const generated = next();
      context.group = generated.group;
      context.sentAt = performance.now();
      request.method = generated.method;
      request.path = generated.path;
      request.headers = generated.headers;
      request.body = generated.body ?? '';
      return request;
    },
    onResponse(status, body, context) {
      const group = typeof context.group === 'string' ? context.group : 'unknown';
      if (group === '__drain') return;
      outstanding--;
      const sentAt = typeof context.sentAt === 'number' ? context.sentAt : performance.now();
      sink(group, status, performance.now() - sentAt, acceptedIn(group, status, body));
    },
  };
}
