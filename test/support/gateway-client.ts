/** Calls to a running stack's gateway, as a client does: JSON bodies, bearer tokens. */
import { expect } from 'vitest';

export const TEST_PASSWORD = 'a long enough password';

export interface GatewayClient {
  post(path: string, body: unknown, token?: string): Promise<Response>;
  /** Signs up `username` (201 expected) and logs in: its id and an access token. */
  login(username: string): Promise<{ id: string; token: string }>;
}

export function gatewayClient(baseUrl: string | (() => string)): GatewayClient {
  const base = typeof baseUrl === 'string' ? () => baseUrl : baseUrl;
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${base()}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  return {
    post,
    login: async (username) => {
      const signUp = await post('/api/users', { username, email: `${username}@example.test`, password: TEST_PASSWORD });
      expect(signUp.status).toBe(201);
      const { id } = (await signUp.json()) as { id: string };
      const { accessToken } = (await (await post('/api/auth/token', { username, password: TEST_PASSWORD })).json()) as { accessToken: string };
      return { id, token: accessToken };
    },
  };
}
