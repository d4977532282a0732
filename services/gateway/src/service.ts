import rateLimit from '@fastify/rate-limit';
import {
  ASSERTION_HEADER,
  AccessTokenVerifier,
  AssertionSigner,
  badRequest,
  CircuitOpenError,
  CONTROL_ROUTES_PATH,
  CREDENTIALS_VERSION_HEADER,
  ControlTokenVerifier,
  HttpError,
  InvalidTokenError,
  baseConfigSchema,
  internalSignerConfigSchema,
  jwtConfigSchema,
  notFound,
  unauthorized,
  unavailable,
  type ServiceDefinition,
  type TokenClaims,
} from '@msctl/kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CredentialVersions } from './credentials';
import { OPENAPI_PATH } from './openapi';
import { UpstreamFailure, UpstreamPools, requestHeaders, type UpstreamResponse } from './proxy';
import { controlRoutesSchema, gatewayRoutesSchema, matchRoute, type MatchedRoute } from './routes';
import { RoutingTable } from './routing';

const configSchema = baseConfigSchema.extend({
  ...jwtConfigSchema.shape,
  ...internalSignerConfigSchema.shape,
  GATEWAY_ROUTES: gatewayRoutesSchema,
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Requests per second per client (token subject, or address when anonymous). */
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(100),
  /** The upstream that issues tokens and answers GET /users/me/credentials. */
  CREDENTIALS_UPSTREAM: z.string().default('users'),
  /** How long a user's credentials version is remembered: a revoked token may pass this long on another gateway instance. */
  CREDENTIALS_CACHE_MS: z.coerce.number().int().nonnegative().default(2_000),
});

type GatewayConfig = z.infer<typeof configSchema>;

declare module 'fastify' {
  interface FastifyRequest {
    auth: TokenClaims | null;
    matchedRoute: MatchedRoute | null;
  }
}

/** Headers only the gateway may set upstream: whatever a client sends under these names is dropped. */
const GATEWAY_ONLY_HEADERS = [ASSERTION_HEADER, 'x-auth-'];

export const gatewayService: ServiceDefinition<GatewayConfig> = {
  name: 'gateway',
  edge: true,
  config: configSchema,
  async setup({ app, config, circuit, health, onClose }) {
    const pools = new UpstreamPools(config.UPSTREAM_TIMEOUT_MS);
    onClose(() => pools.close());

    let table = new RoutingTable(config.GATEWAY_ROUTES, circuit);
    const probeUpstream = (url: string) => pools.health(url, 1_500);
    table.replaceChecks(health, undefined, probeUpstream);
    const signer = new AssertionSigner(config.INTERNAL_AUTH_PRIVATE_KEY);
    const tokens = new AccessTokenVerifier(config.JWT_SECRET);
    const control = new ControlTokenVerifier(config.INTERNAL_AUTH_PRIVATE_KEY);
    const issuer = config.CREDENTIALS_UPSTREAM;
    const credentials = new CredentialVersions(async (subject) => {
      const instance = table.instances.pick(issuer);
      const assertion = await signer.sign(issuer, { subject, username: null, scope: '', clientIp: null });
      const answer = await instance.circuit.run(() =>
        pools.forward(instance.url, 'GET', '/users/me/credentials', { accept: 'application/json', [ASSERTION_HEADER]: assertion }, undefined),
      );
      if (answer.statusCode === 404) return null;
      const body = JSON.parse(answer.body.toString('utf8')) as { credentialsVersion?: unknown };
      if (answer.statusCode !== 200 || typeof body.credentialsVersion !== 'number') throw new Error(`${issuer} answered ${answer.statusCode} for the credentials version`);
      return body.credentialsVersion;
    }, config.CREDENTIALS_CACHE_MS);
    const checksVersions = () => table.routes.some((route) => route.upstream === issuer);

    app.decorateRequest('auth', null);
    app.decorateRequest('matchedRoute', null);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/api/')) return;
      const match = matchRoute(table.routes, request.method, request.url);
      if (!match) return;
      request.matchedRoute = match;
      if (match.isPublic) return;
      const header = request.headers.authorization ?? '';
      const [scheme, token] = header.split(' ');
      if (scheme?.toLowerCase() !== 'bearer' || !token) {
        void reply.header('www-authenticate', 'Bearer');
        throw unauthorized();
      }
      try {
        request.auth = await tokens.verify(token);
      } catch (error) {
        void reply.header('www-authenticate', 'Bearer error="invalid_token"');
        throw unauthorized(error instanceof InvalidTokenError ? error.message : undefined);
      }
    });

    await app.register(rateLimit, {
      max: config.RATE_LIMIT_PER_SECOND,
      timeWindow: 1_000,
      hook: 'preHandler',
      keyGenerator: (request) => request.auth?.sub ?? request.ip,
      // Thrown by the plugin: an HttpError, so that the kit's error handler answers {error: 'rate_limited', …}.
      errorResponseBuilder: (_request, context) => {
        const seconds = Math.max(1, Math.ceil(context.ttl / 1000));
        return new HttpError(429, 'rate_limited', `more than ${context.max} requests per second; retry in ${seconds} s`, undefined, seconds);
      },
    });

    // Public (no route prefix covers it), rate-limited like every other route.
    app.get(OPENAPI_PATH, async (_request, reply) => reply.type('application/json').send(table.openapi));

    /**
     * msctl's blue-green switch: the new table takes effect for the next request, and the
     * answer comes once every request in flight to an instance the table dropped has been
     * answered, so that msctl may then stop that instance without failing one.
     */
    app.put(CONTROL_ROUTES_PATH, async (request, reply) => {
      const [scheme, token] = (request.headers.authorization ?? '').split(' ');
      try {
        if (scheme?.toLowerCase() !== 'bearer' || !token) throw new InvalidTokenError('no control token');
        await control.verify(token);
      } catch (error) {
        throw unauthorized(error instanceof InvalidTokenError ? error.message : undefined);
      }
      let body: unknown;
      try {
        body = JSON.parse((request.body as Buffer | undefined)?.toString('utf8') ?? '');
      } catch {
        throw badRequest('the routing table is not JSON');
      }
      const parsed = controlRoutesSchema.safeParse(body);
      if (!parsed.success) throw badRequest('not a routing table', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
      if (parsed.data.version > table.version) {
        const previous = table;
        table = new RoutingTable(parsed.data.routes, circuit, parsed.data.version);
        table.replaceChecks(health, previous, probeUpstream);
        const kept = table.urls();
        await pools.retire([...previous.urls()].filter((url) => !kept.has(url)));
        request.log.info({ version: table.version, upstreams: table.describe() }, 'routing table replaced');
      }
      return reply.send({ version: table.version, upstreams: table.describe() });
    });

    /**
     * Refuses a user's token issued before their last password change, or after the account was
     * deleted. Checked after the rate limit: a burst of one client's requests waits on one lookup,
     * and is admitted or refused as it arrived, not all at once when the lookup answers.
     */
    const assertCurrentCredentials = async (claims: TokenClaims, request: FastifyRequest, reply: FastifyReply) => {
      // A service client's token (no `ver`) has no password to change; it lives until it expires.
      if (!checksVersions() || claims.ver === undefined) return;
      let current: boolean;
      try {
        current = await credentials.isCurrent(claims.sub, claims.ver);
      } catch (error) {
        request.log.warn({ err: error }, 'cannot check the credentials version');
        throw unavailable('the token cannot be checked right now; try again', 1);
      }
      if (!current) {
        void reply.header('www-authenticate', 'Bearer error="invalid_token"');
        throw unauthorized('token revoked: the password changed or the account was deleted; log in again');
      }
    };

    app.all('/api/*', async (request, reply) => {
      const match = request.matchedRoute;
      if (!match) throw notFound(`no route for ${request.method} ${request.url.split('?')[0]}`);
      if (request.auth) await assertCurrentCredentials(request.auth, request, reply);
      const upstream = match.route.upstream;
      const headers = requestHeaders(request.headers, GATEWAY_ONLY_HEADERS);
      headers['x-forwarded-for'] = request.ip;
      headers['x-request-id'] = request.id;
      const auth = request.auth;
      headers[ASSERTION_HEADER] = await signer.sign(upstream, {
        subject: auth?.sub ?? null,
        username: auth?.username ?? null,
        scope: auth?.scope ?? '',
        clientIp: request.ip,
      });
      delete headers.authorization;
      const instance = table.instances.pick(upstream);
      let answer: UpstreamResponse;
      try {
        answer = await instance.circuit.run(() =>
          pools.forward(instance.url, request.method, match.upstreamUrlPath, headers, request.body as Buffer | undefined),
        );
      } catch (error) {
        if (error instanceof UpstreamFailure) answer = error.response;
        else {
          if (!(error instanceof CircuitOpenError)) request.log.warn({ err: error, upstream: instance.label }, 'upstream call failed');
          throw upstreamError(match.route.upstream, error);
        }
      }
      // This instance stops accepting the old tokens at once; others within CREDENTIALS_CACHE_MS.
      // The issuer's answer says which version the change left (a name change leaves the same):
      // remembered, so the user's next request needs no lookup; without it, asked again.
      const told = answer.headers[CREDENTIALS_VERSION_HEADER];
      if (auth && upstream === issuer && (request.method === 'PATCH' || request.method === 'DELETE') && answer.statusCode < 300) {
        if (typeof told === 'string' && /^\d+$/.test(told)) credentials.learn(auth.sub, Number(told));
        else credentials.forget(auth.sub);
      }
      if (told !== undefined) delete answer.headers[CREDENTIALS_VERSION_HEADER];
      return reply.status(answer.statusCode).headers(answer.headers).send(answer.body);
    });
  },
};

/**
 * An upstream that did not answer. Refused connections mean nothing was sent, as while a
 * service restarts: 503, safe to send again. A timeout is a 504 and anything else a 502: the
 * request may have been applied. An open breaker stays a 503.
 */
function upstreamError(upstream: string, error: unknown): unknown {
  if (error instanceof CircuitOpenError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code === 'ECONNREFUSED') {
    return new HttpError(503, 'upstream_unavailable', `${upstream} is not accepting connections (starting or restarting)`, undefined, 1);
  }
  if (code === 'ETIMEDOUT' || code.endsWith('_TIMEOUT')) {
    return new HttpError(504, 'upstream_timeout', `${upstream} did not answer in time`, undefined, 1);
  }
  return new HttpError(502, 'upstream_unreachable', `${upstream} cannot be reached`, undefined, 1);
}
