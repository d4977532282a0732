import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT, decodeJwt, jwtVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';

/*
 * Two kinds of token, with two keys that never meet:
 * - the end user's access token: HS256 with JWT_SECRET, signed by users, verified by the gateway;
 * - the gateway's internal assertion: EdDSA, signed with a private key only the gateway holds,
 *   verified by each upstream with the public half. It names the caller (or says there is none,
 *   on a public route), the client's address, and one upstream as its audience, so no service
 *   can use what it received to speak for a user to another service.
 */

export const JWT_ISSUER = 'msctl-users';
export const JWT_AUDIENCE = 'msctl';

/** Lets a service client post events for any subject (see docs/security.md); users never grants it. */
export const INGEST_SCOPE = 'events:ingest';

/** The per-stack signing secret shared by users (signs) and gateway (verifies). */
export const jwtConfigSchema = z.object({
  JWT_SECRET: z.string().min(32, 'at least 32 characters (msctl generates one per stack)'),
  JWT_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
});

export interface TokenClaims {
  /** The user id (or a service client's name). */
  sub: string;
  username: string;
  /** Space-separated scopes; empty for an end user. */
  scope?: string;
  /** The credentials version the token was issued under: a password change or a delete revokes it. */
  ver?: number;
}

const secretKey = (secret: string) => new TextEncoder().encode(secret);

export async function signAccessToken(claims: TokenClaims, secret: string, ttlSeconds: number): Promise<string> {
  const payload: Record<string, unknown> = { username: claims.username };
  if (claims.scope) payload.scope = claims.scope;
  if (claims.ver !== undefined) payload.ver = claims.ver;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(secretKey(secret));
}

export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** Verifies signature, issuer, audience and expiry; throws InvalidTokenError saying which failed. */
export async function verifyAccessToken(token: string, secret: string | Uint8Array): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(token, typeof secret === 'string' ? secretKey(secret) : secret, {
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      algorithms: ['HS256'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.username !== 'string') {
      throw new InvalidTokenError('token lacks its subject or username');
    }
    const claims: TokenClaims = { sub: payload.sub, username: payload.username };
    if (typeof payload.scope === 'string' && payload.scope !== '') claims.scope = payload.scope;
    if (typeof payload.ver === 'number') claims.ver = payload.ver;
    return claims;
  } catch (error) {
    if (error instanceof InvalidTokenError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw new InvalidTokenError('token expired');
    throw new InvalidTokenError('token is not valid');
  }
}

/**
 * verifyAccessToken with the key decoded once and good tokens remembered until they expire: a
 * client sends the same token with every request, and the signature check (a crypto job on
 * libuv's pool) was the gateway's largest cost per request. Revocation is not this cache's
 * business: the gateway checks the credentials version on every request.
 */
export class AccessTokenVerifier {
  private readonly key: Uint8Array;
  private readonly verified = new Map<string, { claims: TokenClaims; expiresAt: number }>();

  constructor(secret: string) {
    this.key = secretKey(secret);
  }

  async verify(token: string, now = Date.now()): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > now) return known.claims;
      this.verified.delete(token);
      throw new InvalidTokenError('token expired');
    }
    const claims = await verifyAccessToken(token, this.key);
    const { exp } = decodeJwt(token);
    if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
    this.verified.set(token, { claims, expiresAt: (exp ?? 0) * 1000 });
    return claims;
  }
}

export const hasScope = (scope: string | undefined, wanted: string): boolean => (scope ?? '').split(' ').includes(wanted);

/** The header that carries the gateway's assertion to an upstream. */
export const ASSERTION_HEADER = 'x-msctl-assertion';
export const ASSERTION_ISSUER = 'msctl-gateway';
/**
 * On the issuer's answer to a change of a user's account: the credentials version the change
 * left. The gateway remembers it rather than asking again; clients never see it.
 */
export const CREDENTIALS_VERSION_HEADER = 'x-msctl-credentials-version';
export const assertionAudience = (service: string) => `msctl-internal:${service}`;
/** Long enough to be reused across many requests, short enough that a leaked one soon dies. */
const ASSERTION_TTL_SECONDS = 60;
const ASSERTION_REUSE_MS = 30_000;
const CACHE_LIMIT = 10_000;

/** Who a request comes from, as the gateway vouched for it. */
export interface Caller {
  /** The user (or service client) id; null on a public route, where nobody is logged in. */
  subject: string | null;
  username: string | null;
  scope: string;
  /** The client's address as the gateway saw it: what public-route limits are keyed by. */
  clientIp: string | null;
}

export const internalSignerConfigSchema = z.object({
  INTERNAL_AUTH_PRIVATE_KEY: z.string().includes('PRIVATE KEY', { message: 'a PEM private key (msctl generates one per stack)' }),
});
export const internalVerifierConfigSchema = z.object({
  INTERNAL_AUTH_PUBLIC_KEY: z.string().includes('PUBLIC KEY', { message: 'a PEM public key (msctl generates one per stack)' }),
});

/** The gateway side: mints assertions, reusing one per caller and upstream for half its life. */
export class AssertionSigner {
  private readonly key: KeyObject;
  private readonly cache = new Map<string, { token: string; until: number }>();

  constructor(privateKeyPem: string) {
    this.key = createPrivateKey(privateKeyPem);
  }

  async sign(upstream: string, caller: Caller, now = Date.now()): Promise<string> {
    const cacheKey = `${upstream}\u0000${caller.subject ?? ''}\u0000${caller.username ?? ''}\u0000${caller.scope}\u0000${caller.clientIp ?? ''}`;
    const cached = this.cache.get(cacheKey);
    if (cached && cached.until > now) return cached.token;
    const payload: Record<string, unknown> = {};
    if (caller.username !== null) payload.username = caller.username;
    if (caller.scope) payload.scope = caller.scope;
    if (caller.clientIp !== null) payload.cip = caller.clientIp;
    let jwt = new SignJWT(payload)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(assertionAudience(upstream))
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + ASSERTION_TTL_SECONDS);
    if (caller.subject !== null) jwt = jwt.setSubject(caller.subject);
    const token = await jwt.sign(this.key);
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(cacheKey, { token, until: now + ASSERTION_REUSE_MS });
    return token;
  }
}

/** The upstream side: verifies an assertion meant for this service, remembering good ones until they expire. */
export class AssertionVerifier {
  private readonly key: KeyObject;
  private readonly audience: string;
  private readonly verified = new Map<string, { caller: Caller; expiresAt: number }>();

  constructor(publicKeyPem: string, service: string) {
    this.key = createPublicKey(publicKeyPem);
    this.audience = assertionAudience(service);
  }

  /** The caller, or InvalidTokenError saying what is wrong. */
  async verify(token: string, now = Date.now()): Promise<Caller> {
    const known = this.verified.get(token);
    if (known && known.expiresAt > now) return known.caller;
    let payload: Awaited<ReturnType<typeof jwtVerify>>['payload'];
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        issuer: ASSERTION_ISSUER,
        audience: this.audience,
        algorithms: ['EdDSA'],
        currentDate: new Date(now),
      }));
    } catch (error) {
      throw new InvalidTokenError(error instanceof joseErrors.JWTExpired ? 'assertion expired' : 'assertion is not valid for this service');
    }
    const caller: Caller = {
      subject: typeof payload.sub === 'string' ? payload.sub : null,
      username: typeof payload.username === 'string' ? payload.username : null,
      scope: typeof payload.scope === 'string' ? payload.scope : '',
      clientIp: typeof payload.cip === 'string' ? payload.cip : null,
    };
    if (this.verified.size >= CACHE_LIMIT) this.verified.clear();
    this.verified.set(token, { caller, expiresAt: (payload.exp ?? 0) * 1000 });
    return caller;
  }
}

/*
 * msctl's control token: how msctl tells a running gateway its new routing table (a restart
 * moved an instance, a manifest gained a route). Signed with the internal key's private half,
 * which only msctl and the gateway hold, so no upstream can forge one; short-lived.
 */
const CONTROL_ISSUER = 'msctl';
const CONTROL_AUDIENCE = 'msctl-control:gateway';
const CONTROL_TTL_SECONDS = 30;
/** Where msctl sends a running gateway its new routing table. */
export const CONTROL_ROUTES_PATH = '/_msctl/routes';

export function signControlToken(privateKeyPem: string, now = Date.now()): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuer(CONTROL_ISSUER)
    .setAudience(CONTROL_AUDIENCE)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(now / 1000) + CONTROL_TTL_SECONDS)
    .sign(createPrivateKey(privateKeyPem));
}

/** The gateway's side: the public half, derived from the private key it holds. */
export class ControlTokenVerifier {
  private readonly key: KeyObject;

  constructor(privateKeyPem: string) {
    this.key = createPublicKey(createPrivateKey(privateKeyPem));
  }

  async verify(token: string): Promise<void> {
    try {
      await jwtVerify(token, this.key, { issuer: CONTROL_ISSUER, audience: CONTROL_AUDIENCE, algorithms: ['EdDSA'], maxTokenAge: CONTROL_TTL_SECONDS });
    } catch {
      throw new InvalidTokenError('not a control token of this stack');
    }
  }
}
