/**
 * The gateway's OpenAPI 3.1 document, served at GET /api/openapi.json.
 *
 * Request bodies and query parameters are generated from the very zod schemas the services
 * validate with (z.toJSONSchema), so they cannot drift; responses are described here and kept
 * true by test/security (every answer the fuzzer gets is checked against this document).
 * Only operations under a configured gateway route are listed, and which of them need a token
 * follows the routes' `public` lists — the same data the gateway authenticates with.
 */
import { z } from 'zod';
import { ingestEventSchema } from '../../data-processing/src/events';
import { summaryQuerySchema, timeseriesQuerySchema } from '../../analytics/src/aggregate';
import { idParamsSchema, listQuerySchema } from '../../notifications/src/schemas';
import { signUpSchema, tokenRequestSchema, updateSchema, userIdSchema } from '../../users/src/schemas';
import { matchRoute, type GatewayRoute } from './routes';

export const OPENAPI_PATH = '/api/openapi.json';

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, OpenApiOperation>> };
export interface OpenApiOperation {
  operationId: string;
  summary: string;
  tags: string[];
  security: Array<Record<string, string[]>>;
  parameters?: JsonSchema[];
  requestBody?: JsonSchema;
  responses: Record<string, JsonSchema>;
}

/** The JSON Schema (2020-12, OpenAPI 3.1's dialect) of what a client sends. */
function inputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

function outputSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

// --- what the services answer -------------------------------------------------------------

const instant = z.string().describe('ISO 8601 date-time');

const userSchema = z.strictObject({
  id: z.uuid(),
  username: z.string(),
  email: z.string().optional().describe('only to the user themself'),
  displayName: z.string().nullable(),
  createdAt: instant,
  updatedAt: instant,
  version: z.number().int(),
});

const tokenSchema = z.strictObject({
  accessToken: z.string().describe('a JWT (HS256) for the Authorization: Bearer header'),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().describe('seconds'),
});

const credentialsSchema = z.strictObject({
  credentialsVersion: z.number().int().min(1).describe('raised by every password change; tokens issued under an older one are refused'),
});

const acceptedSchema = z.strictObject({
  accepted: z.number().int().min(1),
  ids: z.array(z.string()).describe('the CloudEvent id given to each accepted event, in order'),
});

const notificationSchema = z.strictObject({
  id: z.uuid(),
  eventId: z.string(),
  userId: z.string(),
  kind: z.string(),
  title: z.string(),
  body: z.string(),
  data: z.record(z.string(), z.unknown()),
  createdAt: instant,
  readAt: instant.nullable(),
  read: z.boolean(),
});

const summarySchema = z.strictObject({
  totalEvents: z.number().int(),
  byType: z.record(z.string(), z.number().int()),
  activeUsers: z.strictObject({ last5Minutes: z.number().int(), last1Hour: z.number().int(), total: z.number().int() }),
  from: z.string().nullable(),
  to: z.string().nullable(),
});

const timeseriesSchema = z.strictObject({
  type: z.string(),
  points: z.array(z.strictObject({ bucket: instant, count: z.number().int() })),
});

/** The one error shape every service and the gateway answer with (services/kit/src/server.ts). */
const errorSchema = z.strictObject({
  error: z.string().describe('a stable code: bad_request, unauthorized, not_found, rate_limited, unavailable, …'),
  message: z.string(),
  details: z.unknown().optional(),
});

const DEFAULT_MAX_BATCH_SIZE = 500;

const schemas: Record<string, JsonSchema> = {
  SignUp: inputSchema(signUpSchema),
  UserUpdate: inputSchema(updateSchema),
  TokenRequest: inputSchema(tokenRequestSchema),
  IngestEvent: inputSchema(ingestEventSchema),
  IngestBatch: {
    type: 'object',
    properties: { events: { type: 'array', items: ref('IngestEvent'), minItems: 1, maxItems: DEFAULT_MAX_BATCH_SIZE } },
    required: ['events'],
    description: `all or nothing; at most MAX_BATCH_SIZE events (default ${DEFAULT_MAX_BATCH_SIZE}), more is 413`,
  },
  User: outputSchema(userSchema),
  Token: outputSchema(tokenSchema),
  Credentials: outputSchema(credentialsSchema),
  Accepted: outputSchema(acceptedSchema),
  Notification: outputSchema(notificationSchema),
  NotificationList: { type: 'object', properties: { notifications: { type: 'array', items: ref('Notification') } }, required: ['notifications'], additionalProperties: false },
  NotificationRead: { type: 'object', properties: { notification: ref('Notification') }, required: ['notification'], additionalProperties: false },
  Summary: outputSchema(summarySchema),
  Timeseries: outputSchema(timeseriesSchema),
  Error: outputSchema(errorSchema),
};

const retryAfter = { 'Retry-After': { description: 'seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } };

const errorResponse = (description: string, headers?: JsonSchema) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { 'application/json': { schema: ref('Error') } },
});

const errorResponses: Record<number, [name: string, JsonSchema]> = {
  400: ['BadRequest', errorResponse('the request is not valid (malformed JSON, wrong types, missing fields); details lists what')],
  401: ['Unauthorized', errorResponse('no token, or an invalid, expired or tampered one', { 'WWW-Authenticate': { schema: { type: 'string' } } })],
  403: ['Forbidden', errorResponse('the token is valid but does not allow this')],
  404: ['NotFound', errorResponse('no such resource')],
  409: ['Conflict', errorResponse('conflicts with an existing resource; details.field names what is taken')],
  413: ['PayloadTooLarge', errorResponse('the body is larger than the body limit (1 MiB by default), or the batch holds too many events')],
  414: ['UriTooLong', errorResponse('a path parameter is longer than 100 characters')],
  415: ['UnsupportedMediaType', errorResponse('the body is not application/json')],
  429: ['TooManyRequests', errorResponse('more requests than a rate limit allows, an account backing off after failed log-ins, or password hashing at capacity', retryAfter)],
  502: ['BadGateway', errorResponse('the upstream service cannot be reached', retryAfter)],
  503: ['Unavailable', errorResponse('a dependency (upstream, Kafka, PostgreSQL) is unavailable or its circuit is open', retryAfter)],
  504: ['GatewayTimeout', errorResponse('the upstream service did not answer in time', retryAfter)],
};

// --- the operations -----------------------------------------------------------------------

interface OperationSpec {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** The gateway path, OpenAPI-templated: /api/users/{id}. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  pathParams?: Record<string, JsonSchema>;
  query?: z.ZodType;
  body?: JsonSchema;
  success: { status: number; description: string; schema?: string; headers?: JsonSchema };
  /** Error statuses beyond the ones every operation may answer. */
  errors: number[];
}

const uuidParam = (schema: z.ZodType) => inputSchema(schema);
const json = (schema: JsonSchema) => ({ required: true, content: { 'application/json': { schema } } });

const OPERATIONS: OperationSpec[] = [
  {
    method: 'post', path: '/api/users', operationId: 'signUp', tag: 'users', summary: 'Sign up: create a user',
    body: json(ref('SignUp')),
    success: { status: 201, description: 'the user, created', schema: 'User', headers: { Location: { schema: { type: 'string' } } } },
    errors: [400, 409],
  },
  {
    method: 'get', path: '/api/users/me', operationId: 'getMe', tag: 'users', summary: 'The user the token belongs to',
    success: { status: 200, description: 'the user', schema: 'User' },
    errors: [404],
  },
  {
    method: 'get', path: '/api/users/me/credentials', operationId: 'getMyCredentialsVersion', tag: 'users', summary: "The version of your credentials (the gateway checks tokens' `ver` against it)",
    success: { status: 200, description: 'the version', schema: 'Credentials' },
    errors: [404],
  },
  {
    method: 'get', path: '/api/users/{id}', operationId: 'getUser', tag: 'users', summary: 'One user (the email only to the user themself)',
    pathParams: { id: uuidParam(userIdSchema) },
    success: { status: 200, description: 'the user', schema: 'User' },
    errors: [404],
  },
  {
    method: 'patch', path: '/api/users/{id}', operationId: 'updateUser', tag: 'users', summary: 'Change your own email, password (both need currentPassword) or display name',
    pathParams: { id: uuidParam(userIdSchema) },
    body: json(ref('UserUpdate')),
    success: { status: 200, description: 'the user, changed', schema: 'User' },
    errors: [400, 403, 404, 409],
  },
  {
    method: 'delete', path: '/api/users/{id}', operationId: 'deleteUser', tag: 'users', summary: 'Delete your own account',
    pathParams: { id: uuidParam(userIdSchema) },
    success: { status: 204, description: 'deleted' },
    errors: [403, 404],
  },
  {
    method: 'post', path: '/api/auth/token', operationId: 'issueToken', tag: 'users', summary: 'Log in: a bearer token for a username and password',
    body: json(ref('TokenRequest')),
    success: { status: 200, description: 'the token', schema: 'Token' },
    errors: [400, 401],
  },
  {
    method: 'post', path: '/api/events', operationId: 'ingestEvents', tag: 'events', summary: 'Ingest one event, or a batch as {events: […]}',
    body: json({ oneOf: [ref('IngestEvent'), ref('IngestBatch')] }),
    success: { status: 202, description: 'accepted: Kafka acknowledged every event (acks=all)', schema: 'Accepted' },
    // 403: an event names another user as subject or userId, without the events:ingest scope.
    errors: [400, 403, 413],
  },
  {
    method: 'get', path: '/api/notifications', operationId: 'listNotifications', tag: 'notifications', summary: 'Your notifications, newest first',
    query: listQuerySchema,
    success: { status: 200, description: 'the notifications', schema: 'NotificationList' },
    errors: [400, 403],
  },
  {
    method: 'post', path: '/api/notifications/{id}/read', operationId: 'markNotificationRead', tag: 'notifications', summary: 'Mark one of your notifications as read',
    pathParams: { id: inputSchema(idParamsSchema.shape.id) },
    success: { status: 200, description: 'the notification, read', schema: 'NotificationRead' },
    errors: [400, 403, 404],
  },
  {
    method: 'get', path: '/api/analytics/summary', operationId: 'analyticsSummary', tag: 'analytics', summary: 'Event counts per type and active users, optionally in [from, to)',
    query: summaryQuerySchema,
    success: { status: 200, description: 'the summary', schema: 'Summary' },
    errors: [400],
  },
  {
    method: 'get', path: '/api/analytics/timeseries', operationId: 'analyticsTimeseries', tag: 'analytics', summary: 'Counts of one event type per minute',
    query: timeseriesQuerySchema,
    success: { status: 200, description: 'the series', schema: 'Timeseries' },
    errors: [400],
  },
];

function queryParameters(schema: z.ZodType): JsonSchema[] {
  const object = inputSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: object.required?.includes(name) ?? false,
    schema: property,
  }));
}

/** The document for the gateway configured with `routes`. */
export function buildOpenApiDocument(routes: GatewayRoute[]): OpenApiDocument {
  const paths: Record<string, Record<string, OpenApiOperation>> = {};
  const usedErrors = new Set<number>();
  for (const spec of OPERATIONS) {
    const match = matchRoute(routes, spec.method, spec.path.replaceAll(/\{[^}]+\}/g, 'x'));
    if (!match) continue;
    // What any request may get: a malformed URL or query is a 400; a body (even where none is
    // expected) that is malformed, too large or not JSON a 400, 413 or 415; a path parameter
    // longer than 100 characters a 414.
    const errors = new Set([...spec.errors, 400, 429, 502, 503, 504]);
    if (!match.isPublic) errors.add(401);
    if (spec.method !== 'get') for (const status of [413, 415]) errors.add(status);
    if (spec.pathParams) errors.add(414);
    const responses: Record<string, JsonSchema> = {
      [spec.success.status]: {
        description: spec.success.description,
        ...(spec.success.headers ? { headers: spec.success.headers } : {}),
        ...(spec.success.schema ? { content: { 'application/json': { schema: ref(spec.success.schema) } } } : {}),
      },
    };
    for (const status of [...errors].sort((a, b) => a - b)) {
      usedErrors.add(status);
      responses[status] = { $ref: `#/components/responses/${errorResponses[status]![0]}` };
    }
    const parameters = [
      ...Object.entries(spec.pathParams ?? {}).map(([name, schema]) => ({ name, in: 'path', required: true, schema })),
      ...(spec.query ? queryParameters(spec.query) : []),
    ];
    (paths[spec.path] ??= {})[spec.method] = {
      operationId: spec.operationId,
      summary: spec.summary,
      tags: [spec.tag],
      security: match.isPublic ? [] : [{ bearerAuth: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(spec.body ? { requestBody: spec.body } : {}),
      responses,
    };
  }
  paths[OPENAPI_PATH] = {
    get: {
      operationId: 'openApiDocument',
      summary: 'This document',
      tags: ['gateway'],
      security: [],
      responses: {
        200: { description: 'the OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } },
        429: { $ref: '#/components/responses/TooManyRequests' },
      },
    },
  };
  usedErrors.add(429);

  return {
    openapi: '3.1.1',
    info: {
      title: 'msctl gateway',
      version: '0.1.0',
      description:
        'Every route of the msctl stack through its gateway. Errors are always JSON: {error, message, details?}. ' +
        'Routes without a security requirement are public; every other one needs Authorization: Bearer <token from POST /api/auth/token>.',
    },
    tags: [...new Set(OPERATIONS.map((spec) => spec.tag)), 'gateway'].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas,
      responses: Object.fromEntries([...usedErrors].sort((a, b) => a - b).map((status) => errorResponses[status]!)),
    },
  };
}
