import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';

export const JWT_ISSUER = 'msctl-users';
export const JWT_AUDIENCE = 'msctl';

/** The per-stack signing secret shared by users (signs) and gateway (verifies). */
export const jwtConfigSchema = z.object({
  JWT_SECRET: z.string().min(32, 'at least 32 characters (msctl generates one per stack)'),
  JWT_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
});

export interface TokenClaims {
  /** The user id. */
  sub: string;
  username: string;
}

const secretKey = (secret: string) => new TextEncoder().encode(secret);

export async function signAccessToken(claims: TokenClaims, secret: string, ttlSeconds: number): Promise<string> {
  return new SignJWT({ username: claims.username })
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
export async function verifyAccessToken(token: string, secret: string): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(token, secretKey(secret), {
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      algorithms: ['HS256'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.username !== 'string') {
      throw new InvalidTokenError('token lacks its subject or username');
    }
    return { sub: payload.sub, username: payload.username };
  } catch (error) {
    if (error instanceof InvalidTokenError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw new InvalidTokenError('token expired');
    throw new InvalidTokenError('token is not valid');
  }
}

/** Header names the gateway sets after verifying a token; it strips any a client sends. */
export const AUTH_SUBJECT_HEADER = 'x-auth-subject';
export const AUTH_USERNAME_HEADER = 'x-auth-username';
