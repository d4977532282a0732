import { describe, expect, it } from 'vitest';
import { gatewayRoutesSchema, matchRoute, type GatewayRoute } from '../src/routes';

const routes: GatewayRoute[] = [
  { upstream: 'users', urls: ['http://127.0.0.1:4001'], prefix: '/api/users', upstreamPath: '/users', public: ['POST /api/users'] },
  { upstream: 'users', urls: ['http://127.0.0.1:4001'], prefix: '/api/auth/token', upstreamPath: '/auth/token', public: ['POST /api/auth/token'] },
  { upstream: 'analytics', urls: ['http://127.0.0.1:4004'], prefix: '/api/analytics', upstreamPath: '/analytics', public: [] },
];

describe('matchRoute', () => {
  it('maps the prefix to the upstream path and keeps the rest and the query', () => {
    expect(matchRoute(routes, 'GET', '/api/users/42?fields=all')).toMatchObject({
      route: { upstream: 'users' },
      upstreamUrlPath: '/users/42?fields=all',
      isPublic: false,
    });
    expect(matchRoute(routes, 'GET', '/api/analytics/summary')?.upstreamUrlPath).toBe('/analytics/summary');
  });

  it('matches whole path segments only', () => {
    expect(matchRoute(routes, 'GET', '/api/usersx')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/api/other')).toBeUndefined();
  });

  it('marks only the listed method and path as public', () => {
    expect(matchRoute(routes, 'POST', '/api/users')?.isPublic).toBe(true);
    expect(matchRoute(routes, 'GET', '/api/users')?.isPublic).toBe(false);
    expect(matchRoute(routes, 'POST', '/api/users/1')?.isPublic).toBe(false);
    expect(matchRoute(routes, 'POST', '/api/auth/token')?.isPublic).toBe(true);
  });

  it('refuses dot segments that would escape the upstream path', () => {
    expect(matchRoute(routes, 'GET', '/api/users/../admin')).toBeUndefined();
  });
});

describe('GATEWAY_ROUTES', () => {
  it('parses the JSON routing table and rejects malformed ones', () => {
    expect(gatewayRoutesSchema.parse(JSON.stringify(routes))).toHaveLength(3);
    expect(gatewayRoutesSchema.safeParse('not json').success).toBe(false);
    expect(gatewayRoutesSchema.safeParse('[]').success).toBe(false);
    expect(gatewayRoutesSchema.safeParse(JSON.stringify([{ ...routes[0], urls: ['nope'] }])).success).toBe(false);
  });
});
