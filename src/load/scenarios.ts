/**
 * The built-in scenarios, and custom ones from a YAML/JSON file. A scenario is a weighted list
 * of request templates (see template.ts for the placeholders).
 *
 * Custom scenario file:
 *
 *   name: checkout            # optional
 *   requests:
 *     - name: add-event
 *       method: POST
 *       path: /api/events
 *       weight: 3             # default 1
 *       group: ingest         # what it counts towards (SLO table key); default: its name
 *       headers: { x-trace: "{{uuid}}" }
 *       body: { type: "checkout.{{run}}", data: { n: "{{seq}}" } }
 *       auth: true            # default: adds `authorization: Bearer {{token}}`
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MsctlError } from '../core/errors';
import { PLACEHOLDERS } from './template';
import type { RequestTemplate } from './types';

/**
 * Each of users, ingest, notifications and analytics is one row of the seed's SLO table alone;
 * read is both reads at once (3 : 1), mixed everything.
 */
export const BUILT_IN_SCENARIOS = ['users', 'ingest', 'notifications', 'analytics', 'read', 'mixed'] as const;
export type BuiltInScenario = (typeof BUILT_IN_SCENARIOS)[number];

/** Events per batch request in the ingest scenario. */
export const BATCH_SIZE = 50;

const JSON_HEADERS = { 'content-type': 'application/json' };
const AUTH = { authorization: 'Bearer {{token}}' };

/** The event types one run sends: unique per run, so analytics' counts for them are this run's alone. */
export const ingestTypes = (runId: string) => ({ single: `loadtest.${runId}.single`, batch: `loadtest.${runId}.batch` });

function batchBody(type: string): string {
  const events = Array.from({ length: BATCH_SIZE }, (_, i) => ({ type, subject: '{{userId}}', data: { seq: '{{seq}}', i } }));
  return JSON.stringify({ events });
}

const templates = {
  usersMe: (weight: number): RequestTemplate => ({ name: 'GET /api/users/me', group: 'users', weight, method: 'GET', path: '/api/users/me', headers: { ...AUTH } }),
  usersPatch: (weight: number): RequestTemplate => ({
    name: 'PATCH /api/users/:id',
    group: 'users',
    weight,
    method: 'PATCH',
    path: '/api/users/{{userId}}',
    headers: { ...AUTH, ...JSON_HEADERS },
    body: JSON.stringify({ displayName: 'Load {{seq}}' }),
  }),
  // Password hashing is deliberately slow: sign-ups stay a small share (0.5 %).
  signUp: (weight: number): RequestTemplate => ({
    name: 'POST /api/users (sign-up)',
    group: 'users',
    weight,
    method: 'POST',
    path: '/api/users',
    headers: { ...JSON_HEADERS },
    body: JSON.stringify({ username: 'lt-{{id}}', email: 'lt-{{id}}@load.test', password: 'load-test-password', displayName: 'Load test' }),
  }),
  ingestSingle: (runId: string, weight: number): RequestTemplate => ({
    name: 'POST /api/events (single)',
    group: 'ingest',
    weight,
    method: 'POST',
    path: '/api/events',
    headers: { ...AUTH, ...JSON_HEADERS },
    body: JSON.stringify({ type: ingestTypes(runId).single, subject: '{{userId}}', data: { seq: '{{seq}}' } }),
  }),
  ingestBatch: (runId: string, weight: number): RequestTemplate => ({
    name: `POST /api/events (batch of ${BATCH_SIZE})`,
    group: 'ingest',
    weight,
    method: 'POST',
    path: '/api/events',
    headers: { ...AUTH, ...JSON_HEADERS },
    body: batchBody(ingestTypes(runId).batch),
  }),
  summary: (weight: number): RequestTemplate => ({ name: 'GET /api/analytics/summary', group: 'analytics', weight, method: 'GET', path: '/api/analytics/summary', headers: { ...AUTH } }),
  notifications: (weight: number): RequestTemplate => ({ name: 'GET /api/notifications', group: 'notifications', weight, method: 'GET', path: '/api/notifications?limit=20', headers: { ...AUTH } }),
};

export function builtInScenario(name: BuiltInScenario, runId: string): RequestTemplate[] {
  switch (name) {
    case 'users':
      return [templates.usersMe(139), templates.usersPatch(60), templates.signUp(1)];
    case 'ingest':
      return [templates.ingestSingle(runId, 4), templates.ingestBatch(runId, 1)];
    case 'notifications':
      return [templates.notifications(1)];
    case 'analytics':
      return [templates.summary(1)];
    case 'read':
      return [templates.summary(1), templates.notifications(3)];
    case 'mixed':
      return [
        templates.usersMe(60),
        templates.usersPatch(19),
        templates.signUp(1),
        templates.ingestSingle(runId, 40),
        templates.ingestBatch(runId, 10),
        templates.notifications(50),
        templates.summary(20),
      ];
  }
}

export const isBuiltIn = (name: string): name is BuiltInScenario => (BUILT_IN_SCENARIOS as readonly string[]).includes(name);

const customSchema = z.object({
  name: z.string().min(1).optional(),
  requests: z
    .array(
      z.object({
        name: z.string().min(1).optional(),
        method: z.string().regex(/^[A-Za-z]+$/).default('GET'),
        path: z.string().startsWith('/', 'must start with /'),
        weight: z.number().int().positive().default(1),
        group: z.string().min(1).optional(),
        headers: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
        body: z.unknown().optional(),
        auth: z.boolean().default(true),
      }),
    )
    .min(1, 'at least one request'),
});

function checkPlaceholders(text: string, where: string): void {
  for (const match of text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
    if (!(PLACEHOLDERS as readonly string[]).includes(match[1]!)) {
      throw new MsctlError('USAGE', `${where}: unknown placeholder {{${match[1]}}}`, `use one of ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ')}`);
    }
  }
}

/** Parses a custom scenario (YAML or JSON text). */
export function parseCustomScenario(text: string, file: string): { name: string; templates: RequestTemplate[] } {
  let raw: unknown;
  try {
    raw = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new MsctlError('USAGE', `${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`, undefined, { cause: error });
  }
  const parsed = customSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`).join('; ');
    throw new MsctlError('USAGE', `${file} is not a valid scenario: ${problems}`, 'see "msctl load-test" in README.md for the format');
  }
  const list = parsed.data.requests.map((request, index): RequestTemplate => {
    const method = request.method.toUpperCase();
    const body = request.body === undefined ? undefined : typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    const headers: Record<string, string> = Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
    if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
    if (request.auth && !headers.authorization) headers.authorization = 'Bearer {{token}}';
    const name = request.name ?? `${method} ${request.path}`;
    const where = `${file}: requests[${index}]`;
    for (const text of [request.path, body ?? '', ...Object.values(headers)]) checkPlaceholders(text, where);
    return { name, group: request.group ?? name, weight: request.weight, method, path: request.path, headers, ...(body !== undefined ? { body } : {}) };
  });
  return { name: parsed.data.name ?? file, templates: list };
}

export async function loadCustomScenario(file: string): Promise<{ name: string; templates: RequestTemplate[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MsctlError('USAGE', `cannot read the scenario file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, `scenarios: ${BUILT_IN_SCENARIOS.join(', ')}, or a .yaml/.json file`);
  }
  return parseCustomScenario(text, file);
}
