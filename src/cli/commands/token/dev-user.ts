/**
 * A development end user, through the gateway as any client: log in (POST /api/auth/token) and,
 * the first time, sign up (POST /api/users). Its password is derived from the stack's secrets
 * (like each service's database password), so nothing new is stored and every `msctl token dev`
 * of this stack logs in the same user; `msctl down -v` removes the secrets and the user together.
 */
import { createHmac } from 'node:crypto';
import { MsctlError } from '../../../core/errors';
import type { StackSecrets } from '../../../stack/secrets';

/** What users accepts as a username (services/users/src/schemas.ts). */
export const USERNAME = /^[a-z0-9_.-]{3,32}$/;

export const devPassword = (secrets: StackSecrets, username: string) => createHmac('sha256', secrets.roleSeed).update(`dev-user:${username}`).digest('base64url');

/** example.com is reserved for examples (RFC 2606): no mail can reach anyone. */
export const devEmail = (username: string) => `${username}@example.com`;

export interface UserToken {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  username: string;
  /** Signed up by this call. */
  created: boolean;
}

type Post = (path: string, body: unknown) => Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }>;

/** fetch against the gateway, with errors that say what to do. */
export function gatewayPoster(gatewayUrl: string, signal?: AbortSignal): Post {
  return async (path, body) => {
    let response: Response;
    try {
      response = await fetch(new URL(path, gatewayUrl), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal ? { signal } : {}) });
    } catch (error) {
      throw new MsctlError('NOT_RUNNING', `the gateway does not answer at ${gatewayUrl}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`, 'start the stack with `msctl up -d`');
    }
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { message: text };
    }
    return { status: response.status, body: parsed, retryAfter: response.headers.get('retry-after') };
  };
}

const said = (body: Record<string, unknown>) => String(body.detail ?? body.message ?? body.error ?? body.title ?? '').slice(0, 300);

function refused(what: string, answer: Awaited<ReturnType<Post>>): MsctlError {
  const why = said(answer.body);
  if (answer.status === 429) return new MsctlError('UNHEALTHY', `${what}: too many attempts (${why})`, `try again in ${answer.retryAfter ?? 'a few'} seconds`);
  if (answer.status >= 500) return new MsctlError('UNHEALTHY', `${what}: the stack answered ${answer.status} (${why})`, 'see `msctl status` and `msctl logs users gateway`');
  return new MsctlError('INTERNAL', `${what}: the stack answered ${answer.status} (${why})`, 'see `msctl logs users gateway`');
}

/** Logs `username` in, signing it up first when it does not exist yet. */
export async function devUserToken(post: Post, username: string, password: string): Promise<UserToken> {
  const login = () => post('/api/auth/token', { username, password });
  let answer = await login();
  let created = false;
  if (answer.status === 401) {
    const signUp = await post('/api/users', { username, email: devEmail(username), password });
    if (signUp.status === 409) {
      throw new MsctlError('USAGE', `a user named ${username} exists, with another password than msctl gives it`, 'it was signed up some other way: log in as it yourself, or pick another name: msctl token <username>');
    }
    if (signUp.status !== 201) throw refused(`signing up ${username}`, signUp);
    created = true;
    answer = await login();
  }
  if (answer.status !== 200 || typeof answer.body.accessToken !== 'string') throw refused(`logging in ${username}`, answer);
  return { accessToken: answer.body.accessToken, tokenType: String(answer.body.tokenType ?? 'Bearer'), expiresIn: Number(answer.body.expiresIn), username, created };
}
