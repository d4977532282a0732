/**
 * The gateway's OpenAPI document is valid OpenAPI 3.1, served at /api/openapi.json without a
 * token, and true: every route the upstream services register is documented (method and path,
 * through the manifests' prefixes), nothing is documented that does not exist, and a valid
 * request to every documented operation gets the documented success answer with a body that
 * matches the documented schema.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import type { RunningService } from '@msctl/kit';
import { buildOpenApiDocument, type OpenApiDocument } from '../../services/gateway/src/openapi';
import { ResponseChecker, answerOf, operationsOf, resolve } from './openapi-support';
import { startSecurityStack, type SecurityStack } from './stack';

let stack: SecurityStack;
let gateway: RunningService<unknown>;
let document: OpenApiDocument;

beforeAll(async () => {
  stack = await startSecurityStack();
  gateway = await stack.startGateway();
  const response = await fetch(`${gateway.url}/api/openapi.json`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  document = (await response.json()) as OpenApiDocument;
});
afterAll(async () => {
  await stack?.close();
});

/** "/users/:id" of upstream `service` → "/api/users/{id}" through the manifest's prefixes. */
function gatewayPathsOf(service: string, url: string): string[] {
  return stack.gatewayRoutes
    .filter((route) => route.upstream === service && (url === route.upstreamPath || url.startsWith(`${route.upstreamPath}/`)))
    .map((route) => `${route.prefix}${url.slice(route.upstreamPath.length)}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}'));
}

describe('the gateway OpenAPI document', () => {
  it('is valid OpenAPI 3.1 and is what the gateway serves, without a token', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document) as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(document).toEqual(JSON.parse(JSON.stringify(buildOpenApiDocument(stack.gatewayRoutes))));
  });

  it('lists only the routes the gateway is configured with', () => {
    const usersOnly = buildOpenApiDocument(stack.gatewayRoutes.filter((route) => route.upstream === 'users'));
    expect(Object.keys(usersOnly.paths).sort()).toEqual(['/api/auth/token', '/api/openapi.json', '/api/users', '/api/users/me', '/api/users/me/credentials', '/api/users/{id}']);
    const nothingPublic = buildOpenApiDocument(stack.gatewayRoutes.map((route) => ({ ...route, public: [] })));
    expect(nothingPublic.paths['/api/users']!.post!.security).toEqual([{ bearerAuth: [] }]);
  });

  it('documents every route of every upstream service, and nothing else', () => {
    const registered = new Set<string>();
    for (const [service, routes] of Object.entries(stack.routes)) {
      expect(routes.length, `${service} registered no route`).toBeGreaterThan(0);
      for (const route of routes) {
        const paths = gatewayPathsOf(service, route.url);
        expect(paths, `${service} ${route.method} ${route.url} is under no gateway prefix`).not.toEqual([]);
        for (const path of paths) registered.add(`${route.method} ${path}`);
      }
    }
    const documented = new Set(operationsOf(document).map((op) => `${op.method} ${op.path}`));
    registered.add('GET /api/openapi.json');
    expect([...registered].filter((route) => !documented.has(route)), 'routes missing from the document').toEqual([]);
    expect([...documented].filter((route) => !registered.has(route)), 'documented routes that do not exist').toEqual([]);
    expect(documented.size).toBe(13);
  });

  it('marks as public exactly the manifests\' public routes', () => {
    const publicOps = operationsOf(document)
      .filter((op) => op.operation.security.length === 0)
      .map((op) => `${op.method} ${op.path}`)
      .sort();
    const manifestPublic = stack.gatewayRoutes.flatMap((route) => route.public);
    expect(publicOps).toEqual([...manifestPublic, 'GET /api/openapi.json'].sort());
    for (const op of operationsOf(document)) {
      if (op.operation.security.length > 0) expect(op.operation.responses['401'], `${op.method} ${op.path}`).toBeDefined();
    }
  });

  it('every documented operation answers a valid request as documented, through the gateway', async () => {
    const checker = new ResponseChecker(document);
    const operations = operationsOf(document);
    const exercised = new Set<string>();
    const suffix = uniqueSuffix();
    let token = '';
    const call = async (method: string, path: string, body?: unknown, bearer = true) => {
      const template = path.replace(/\/[0-9a-f-]{36}(?=\/|$)/, '/{id}').split('?')[0]!;
      const operation = operations.find((op) => op.method === method && op.path === template);
      expect(operation, `${method} ${template} is documented`).toBeDefined();
      const response = await fetch(`${gateway.url}${path}`, {
        method,
        headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(bearer && token ? { authorization: `Bearer ${token}` } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const answer = await answerOf(response);
      const success = Object.keys(operation!.operation.responses).find((status) => status.startsWith('2'));
      expect(String(answer.status), `${method} ${path}: ${answer.text}`).toBe(success);
      expect(checker.problems(operation!, answer)).toEqual([]);
      exercised.add(`${method} ${template}`);
      return answer.text ? (JSON.parse(answer.text) as Record<string, unknown>) : {};
    };

    const password = 'a long enough password';
    const user = await call('POST', '/api/users', { username: `doc_${suffix}`, email: `doc_${suffix}@example.test`, password, displayName: 'Doc' }, false);
    const other = await call('POST', '/api/users', { username: `gone_${suffix}`, email: `gone_${suffix}@example.test`, password }, false);
    token = String((await call('POST', '/api/auth/token', { username: `gone_${suffix}`, password }, false)).accessToken);
    await call('DELETE', `/api/users/${String(other.id)}`);
    token = String((await call('POST', '/api/auth/token', { username: `doc_${suffix}`, password }, false)).accessToken);
    await call('GET', '/api/users/me');
    await call('GET', '/api/users/me/credentials');
    await call('GET', `/api/users/${String(user.id)}`);
    await call('PATCH', `/api/users/${String(user.id)}`, { displayName: 'Doc Two' });
    await call('POST', '/api/events', { events: [{ type: `doc${suffix}.checked`, subject: String(user.id), data: {} }] });
    const welcome = await eventually(async () => {
      const list = (await call('GET', '/api/notifications?limit=10')).notifications as Array<{ id: string; kind: string }>;
      return list.find((n) => n.kind === 'welcome');
    }, 30_000, 'the welcome notification');
    await call('POST', `/api/notifications/${welcome.id}/read`);
    await call('GET', '/api/analytics/summary');
    await call('GET', `/api/analytics/timeseries?type=doc${suffix}.checked`);
    await call('GET', '/api/openapi.json', undefined, false);

    expect([...exercised].sort()).toEqual(operations.map((op) => `${op.method} ${op.path}`).sort());
    // The request bodies are the services' own zod schemas.
    const signUp = resolve<{ required: string[] }>(document, { $ref: '#/components/schemas/SignUp' });
    expect(signUp.required.sort()).toEqual(['email', 'password', 'username']);
  });
});
