import { z } from 'zod';

/**
 * One gateway route: requests under `prefix` go to one of the upstream's instances (`urls`),
 * at `upstreamPath` + the rest of the path.
 */
export const gatewayRouteSchema = z.object({
  upstream: z.string().min(1),
  urls: z.array(z.string().url()).min(1, 'at least one instance'),
  prefix: z.string().startsWith('/'),
  upstreamPath: z.string().startsWith('/'),
  /** "METHOD /path" pairs that need no token, e.g. "POST /api/users". */
  public: z.array(z.string().regex(/^[A-Z]+ \/\S*$/)).default([]),
});

export type GatewayRoute = z.infer<typeof gatewayRouteSchema>;

export const gatewayRoutesSchema = z
  .string()
  .transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  })
  .pipe(z.array(gatewayRouteSchema).min(1, 'at least one route'));

/** A routing table as msctl sends it: a newer version replaces the one in use, an older one is ignored. */
export const controlRoutesSchema = z.object({
  version: z.number().int().positive(),
  routes: z.array(gatewayRouteSchema).min(1, 'at least one route'),
});

export interface MatchedRoute {
  route: GatewayRoute;
  /** Path and query string as the upstream sees them. */
  upstreamUrlPath: string;
  isPublic: boolean;
}

/** Longest-prefix match on whole path segments: "/api/users" matches "/api/users/1", not "/api/usersx". */
export function matchRoute(routes: GatewayRoute[], method: string, url: string): MatchedRoute | undefined {
  const queryStart = url.indexOf('?');
  const path = queryStart === -1 ? url : url.slice(0, queryStart);
  const query = queryStart === -1 ? '' : url.slice(queryStart);
  let best: GatewayRoute | undefined;
  for (const route of routes) {
    const matches = path === route.prefix || path.startsWith(`${route.prefix}/`);
    if (matches && (!best || route.prefix.length > best.prefix.length)) best = route;
  }
  if (!best) return undefined;
  const rest = path.slice(best.prefix.length);
  if (rest.split('/').some((segment) => segment === '..' || segment === '.')) return undefined;
  const upstreamPath = `${best.upstreamPath === '/' ? '' : best.upstreamPath}${rest}` || '/';
  return {
    route: best,
    upstreamUrlPath: `${upstreamPath}${query}`,
    isPublic: best.public.includes(`${method.toUpperCase()} ${path}`),
  };
}
