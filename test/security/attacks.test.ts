/**
 * The stack as an attacker meets it: a real local stack (`msctl up -d`, the built binary), and
 * every request sent the way someone without the gateway's key, or with somebody else's
 * token, would send it. Each attack must fail for the attacker, change nothing for the victim,
 * and leave every service healthy and every breaker closed.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ASSERTION_HEADER, AssertionSigner, assertionAudience } from '../../services/kit/src/auth';
import { ensureSecrets } from '../../src/stack/secrets';
import { TEST_PASSWORD } from '../support/gateway-client';
import { stackForThisFile } from '../support/running-stack';
import { sleep } from '../../src/core/sleep';

const stack = stackForThisFile();
const UPSTREAMS = ['users', 'data-processing', 'notifications', 'analytics'] as const;

const direct = (service: string, path: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${stack.project().ports[service]}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });

const api = (path: string, token: string | undefined, init: RequestInit = {}) =>
  fetch(`${stack.gateway()}${path}`, {
    ...init,
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers as Record<string, string>),
    },
    signal: AbortSignal.timeout(15_000),
  });

const json = async <T>(response: Response) => (await response.json()) as T;
const unique = (prefix: string) => `${prefix}_${randomUUID().slice(0, 8)}`;

/** What a request to each upstream's user-scoped routes looks like: the victim's own data. */
const targets = (victim: string): Record<(typeof UPSTREAMS)[number], { method: string; path: string; body?: unknown }> => ({
  users: { method: 'PATCH', path: `/users/${victim}`, body: { password: 'taken-over-password' } },
  'data-processing': { method: 'POST', path: '/events', body: { type: 'alert.triggered', subject: victim, data: { title: 'forged' } } },
  notifications: { method: 'GET', path: `/notifications?userId=${victim}` },
  analytics: { method: 'GET', path: '/analytics/summary' },
});

async function expectHealthyStack(): Promise<void> {
  const status = await stack.status();
  for (const target of status.targets) expect(`${target.name} ${target.state}`).toBe(`${target.name} healthy`);
  const health = await json<{ circuits: Array<{ name: string; state: string }> }>(await fetch(`${stack.gateway()}/health`));
  for (const circuit of health.circuits) expect(`${circuit.name} ${circuit.state}`).toBe(`${circuit.name} closed`);
}

describe('attacks on a running stack', () => {
  it('a forged identity header, a forged assertion, or one meant for another service gets 401 from every upstream', async () => {
    const victim = await stack.login(unique('victim'));
    const secrets = await ensureSecrets(join(stack.project().dir, '.msctl'));
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const forged = (audience: string) =>
      new SignJWT({ username: 'victim' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setIssuer('msctl-gateway')
        .setAudience(audience)
        .setSubject(victim.id)
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(stranger);
    // The real key, but for another audience: what a compromised service could replay.
    const realKeyFor = new AssertionSigner(secrets.internalAuth.privateKey);
    const caller = { subject: victim.id, username: 'victim', scope: '', clientIp: '127.0.0.1' };

    for (const service of UPSTREAMS) {
      const { method, path, body } = targets(victim.id)[service];
      const other = UPSTREAMS.find((name) => name !== service)!;
      const attempts: Array<[string, Record<string, string>]> = [
        ['no identity', {}],
        ['x-auth-subject', { 'x-auth-subject': victim.id, 'x-auth-username': 'victim' }],
        ['a bearer token', { authorization: `Bearer ${victim.token}` }],
        ['an assertion signed with another key', { [ASSERTION_HEADER]: await forged(assertionAudience(service)) }],
        [`the gateway's assertion for ${other}`, { [ASSERTION_HEADER]: await realKeyFor.sign(other, caller) }],
      ];
      for (const [what, headers] of attempts) {
        const response = await direct(service, path, {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        expect(`${service} with ${what}: ${response.status}`).toBe(`${service} with ${what}: 401`);
      }
      expect((await direct(service, '/health')).status).toBe(200);
      expect((await direct(service, '/metrics')).status).toBe(200);
    }

    // The victim's password still works: the PATCHes changed nothing.
    const me = await json<{ username: string }>(await api('/api/users/me', victim.token));
    const login = await api('/api/auth/token', undefined, { method: 'POST', body: JSON.stringify({ username: me.username, password: TEST_PASSWORD }) });
    expect(login.status).toBe(200);
    await expectHealthyStack();
  });

  it('an event naming another user as its owner is refused (403), alone or in a batch, and reaches nobody', async () => {
    const attacker = await stack.login(unique('attacker'));
    const victim = await stack.login(unique('target'));
    const title = `forged-${randomUUID()}`;
    const single = await api('/api/events', attacker.token, {
      method: 'POST',
      body: JSON.stringify({ type: 'alert.triggered', subject: victim.id, data: { title } }),
    });
    expect(single.status).toBe(403);
    const asUserId = await api('/api/events', attacker.token, {
      method: 'POST',
      body: JSON.stringify({ type: 'alert.triggered', userId: victim.id, data: { title } }),
    });
    expect(asUserId.status).toBe(403);
    const marker = randomUUID();
    const batch = await api('/api/events', attacker.token, {
      method: 'POST',
      body: JSON.stringify({
        events: [
          { id: randomUUID(), type: 'alert.triggered', data: { title: 'mine' } },
          { type: 'alert.triggered', subject: victim.id, data: { title } },
        ],
      }),
    });
    expect(batch.status).toBe(403);
    expect(await json<unknown>(batch)).toMatchObject({ error: 'forbidden', details: { invalid: [{ index: 1, errors: [{ path: 'subject' }] }] } });

    // The attacker's own event is accepted, owned by the attacker, and notifies the attacker only.
    const own = await api('/api/events', attacker.token, { method: 'POST', body: JSON.stringify({ id: randomUUID(), type: 'alert.triggered', data: { title: 'own', marker } }) });
    expect(own.status).toBe(202);
    await stack.drained('notifications');
    const attackerNotes = await json<{ notifications: Array<{ title: string; data: unknown }> }>(await api('/api/notifications', attacker.token));
    expect(JSON.stringify(attackerNotes)).toContain(marker);
    const victimNotes = await json<{ notifications: Array<{ title: string }> }>(await api('/api/notifications', victim.token));
    expect(JSON.stringify(victimNotes)).not.toContain(title);
    expect(JSON.stringify(victimNotes)).not.toContain(marker);
    // A service client the operator gave the ingest scope (`msctl token`) may post for anyone;
    // the same client without it may not.
    const forVictim = JSON.stringify({ type: 'alert.triggered', subject: victim.id, data: { title: 'from the importer' } });
    expect((await api('/api/events', await stack.clientToken('importer', []), { method: 'POST', body: forVictim })).status).toBe(403);
    expect((await api('/api/events', await stack.clientToken('importer', ['events:ingest']), { method: 'POST', body: forVictim })).status).toBe(202);

    const stored = await stack.query<{ n: string }>(`SELECT count(*) AS n FROM notifications.notifications WHERE title = $1 OR body LIKE '%' || $1 || '%'`, [title]);
    expect(Number(stored[0]!.n)).toBe(0);
  });

  it("a token's password change or delete revokes the older tokens everywhere, and a change needs the current password", async () => {
    const username = unique('rotating');
    const user = await stack.login(username);
    const oldToken = user.token;
    const patch = (body: unknown, token = oldToken) => api(`/api/users/${user.id}`, token, { method: 'PATCH', body: JSON.stringify(body) });

    expect((await patch({ password: 'a-stolen-token-password' })).status).toBe(400);
    expect((await patch({ email: `${username}@attacker.test` })).status).toBe(400);
    expect((await patch({ email: `${username}@attacker.test`, currentPassword: 'a guess at it' })).status).toBe(403);
    const unchanged = await json<{ email: string }>(await api('/api/users/me', oldToken));
    expect(unchanged.email).toBe(`${username}@example.test`);

    expect((await patch({ password: 'the owner changed it', currentPassword: TEST_PASSWORD })).status).toBe(200);
    for (const path of ['/api/users/me', '/api/notifications', '/api/analytics/summary']) {
      const response = await api(path, oldToken);
      expect(`${path} ${response.status}`).toBe(`${path} 401`);
    }
    expect((await api('/api/events', oldToken, { method: 'POST', body: JSON.stringify({ type: 'page.viewed', data: {} }) })).status).toBe(401);

    const fresh = await json<{ accessToken: string }>(
      await api('/api/auth/token', undefined, { method: 'POST', body: JSON.stringify({ username, password: 'the owner changed it' }) }),
    );
    expect((await api('/api/users/me', fresh.accessToken)).status).toBe(200);
    expect((await api(`/api/users/${user.id}`, fresh.accessToken, { method: 'DELETE' })).status).toBe(204);
    expect((await api('/api/notifications', fresh.accessToken)).status).toBe(401);
  });

  it('a password brute force backs the account off: even the right password waits, and nothing else slows', async () => {
    const username = unique('guessed');
    const victim = await stack.login(username);
    const guess = (password: string) => api('/api/auth/token', undefined, { method: 'POST', body: JSON.stringify({ username, password }) });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await guess(`guess number ${i}`)).status);
    // Five free failures, then the account backs off.
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.slice(5)).toContain(429);
    const right = await guess(TEST_PASSWORD);
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The victim's session is untouched.
    expect((await api('/api/users/me', victim.token)).status).toBe(200);
    await expectHealthyStack();
  });

  // Last: it spends this address's sign-up budget for the minute.
  it('a flood of sign-ups from one address is refused fast, while another user keeps working and no breaker opens', async () => {
    const bystander = await stack.login(unique('bystander'));
    const flood: number[] = [];
    const retryAfter: Array<string | null> = [];
    let floodDone = false;
    const floodWorker = async (worker: number) => {
      for (let i = 0; i < 20; i++) {
        const name = `flood_${worker}_${i}_${randomUUID().slice(0, 6)}`;
        const response = await api('/api/users', undefined, {
          method: 'POST',
          body: JSON.stringify({ username: name, email: `${name}@flood.test`, password: 'flooding password' }),
        });
        flood.push(response.status);
        if (response.status === 429) retryAfter.push(response.headers.get('retry-after'));
        await response.body?.cancel();
      }
    };
    const bystanderStatuses: number[] = [];
    const bystanderLoop = async () => {
      while (!floodDone) {
        const response = await api('/api/users/me', bystander.token);
        bystanderStatuses.push(response.status);
        await response.body?.cancel();
        await sleep(50);
      }
    };
    const watching = bystanderLoop();
    await Promise.all(Array.from({ length: 16 }, (_, worker) => floodWorker(worker)));
    floodDone = true;
    await watching;

    expect(flood).toHaveLength(320);
    expect(flood.filter((status) => status !== 201 && status !== 429)).toEqual([]);
    expect(flood).toContain(429);
    expect(retryAfter.every((value) => Number(value) >= 1)).toBe(true);
    expect(bystanderStatuses.length).toBeGreaterThan(0);
    expect(bystanderStatuses.filter((status) => status !== 200)).toEqual([]);
    await expectHealthyStack();
  });
});
