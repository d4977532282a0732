import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ASSERTION_HEADER, type AssertionVerifier, type Caller, InvalidTokenError } from './auth';
import { unauthorized } from './http-errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who sent the request, as the gateway's assertion says; set on every route but /health and /metrics. */
    caller: Caller | null;
  }
}

/** Health and metrics answer anyone who can reach the port: probes and scrapers hold no identity. */
const OPEN_ROUTES = new Set(['/health', '/metrics']);

/**
 * Every request but health and metrics must carry a valid assertion from the gateway: no header
 * is believed on its own, and a request without one is refused before any route runs.
 */
export function requireCallers(app: FastifyInstance, verifier: AssertionVerifier): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url !== undefined && OPEN_ROUTES.has(request.routeOptions.url)) return;
    const header = request.headers[ASSERTION_HEADER];
    const token = Array.isArray(header) ? header[0] : header;
    if (!token) throw unauthorized('only the gateway may call this service: the request carries no assertion');
    try {
      request.caller = await verifier.verify(token);
    } catch (error) {
      throw unauthorized(error instanceof InvalidTokenError ? error.message : undefined);
    }
  });
}

/** The logged-in user behind the request; 401 on a route reached without one. */
export function requireSubject(request: FastifyRequest): string {
  const subject = request.caller?.subject;
  if (!subject) throw unauthorized();
  return subject;
}
