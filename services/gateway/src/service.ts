import rateLimit from '@fastify/rate-limit';
import {
  AUTH_SUBJECT_HEADER,
  CircuitOpenError,
  HttpError,
  AUTH_USERNAME_HEADER,
  InvalidTokenError,
  baseConfigSchema,
  jwtConfigSchema,
  notFound,
  unauthorized,
  verifyAccessToken,
  type ServiceDefinition,
  type TokenClaims,
} from '@msctl/kit';
import { z } from 'zod';
import { UpstreamInstances } from './instances';
import { OPENAPI_PATH, buildOpenApiDocument } from './openapi';
import { UpstreamFailure, UpstreamPools, requestHeaders, type UpstreamResponse } from './proxy';
import { gatewayRoutesSchema, matchRoute, type MatchedRoute } from './routes';

const configSchema = baseConfigSchema.extend({
  ...jwtConfigSchema.shape,
  GATEWAY_ROUTES: gatewayRoutesSchema,
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Requests per second per client (token subject, or address when anonymous). */
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(100),
});

type GatewayConfig = z.infer<typeof configSchema>;

declare module 'fastify' {
  interface FastifyRequest {
    auth: TokenClaims | null;
    matchedRoute: MatchedRoute | null;
  }
}

const IDENTITY_HEADER_PREFIX = 'x-auth-';

export const gatewayService: ServiceDefinition<GatewayConfig> = {
  name: 'gateway',
  config: configSchema,
  async setup({ app, config, circuit, health, onClose }) {
    const routes = config.GATEWAY_ROUTES;
    const pools = new UpstreamPools(config.UPSTREAM_TIMEOUT_MS);
    onClose(() => pools.close());

    const instances = new UpstreamInstances(routes, circuit);
    for (const instance of instances.all()) {
      health.addCheck({
        name: `${instance.label}:health`,
        componentType: 'component',
        critical: false,
        probe: async () => {
          const response = await fetch(new URL('/health', instance.url), { signal: AbortSignal.timeout(1_500) });
          await response.body?.cancel();
          if (!response.ok) throw new Error(`${instance.label} answered ${response.status}`);
        },
      });
    }

    app.decorateRequest('auth', null);
    app.decorateRequest('matchedRoute', null);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/api/')) return;
      const match = matchRoute(routes, request.method, request.url);
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
        request.auth = await verifyAccessToken(token, config.JWT_SECRET);
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
    const openapi = JSON.stringify(buildOpenApiDocument(routes));
    app.get(OPENAPI_PATH, async (_request, reply) => reply.type('application/json').send(openapi));

    app.all('/api/*', async (request, reply) => {
      const match = request.matchedRoute;
      if (!match) throw notFound(`no route for ${request.method} ${request.url.split('?')[0]}`);
      const headers = requestHeaders(request.headers, IDENTITY_HEADER_PREFIX);
      headers['x-forwarded-for'] = request.ip;
      headers['x-request-id'] = request.id;
      if (request.auth) {
        headers[AUTH_SUBJECT_HEADER] = request.auth.sub;
        headers[AUTH_USERNAME_HEADER] = request.auth.username;
      }
      delete headers.authorization;
      const instance = instances.pick(match.route.upstream);
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
