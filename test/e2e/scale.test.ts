/**
 * msctl scale on the local runtime, through the built binary: consumers become members of one
 * group (each welcome notification still sent exactly once), HTTP services become instances
 * the gateway balances across.
 */
import { AssignerProtocol, Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { eventually } from '@msctl/kit/testing';
import { stackForThisFile } from '../support/running-stack';

const stack = stackForThisFile();
const { run, status, gateway, post } = stack;

/** Requests an instance has answered on a route, from its own /metrics. */
async function requestsServed(port: number, route: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('http_request_duration_seconds_count{') && line.includes(`route="${route}"`))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

describe('msctl scale', () => {
  it('notifications=3: three members of one group, and each sign-up still gets exactly one welcome', async () => {
    const result = await run(['scale', 'notifications=3']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const instances = (await status()).targets.filter((t) => t.name.startsWith('notifications'));
    expect(instances.map((t) => [t.name, t.state])).toEqual([
      ['notifications', 'healthy'],
      ['notifications#2', 'healthy'],
      ['notifications#3', 'healthy'],
    ]);

    const admin = new Kafka({ brokers: [`127.0.0.1:${stack.project().env.MSCTL_KAFKA_PORT}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const members = await eventually(async () => {
        const { groups } = await admin.describeGroups(['notifications']);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 3 ? groups[0].members : undefined;
      }, 30_000, 'three stable members in the notifications group');
      // Each member really consumes: the partitions of users.events are spread over all three.
      const owners = members.map((member) => AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment['users.events'] ?? []);
      expect(owners.map((partitions) => partitions.length > 0)).toEqual([true, true, true]);
      const topics = await admin.fetchTopicMetadata({ topics: ['users.events'] });
      expect(topics.topics[0]!.partitions.length).toBeGreaterThanOrEqual(3);
    } finally {
      await admin.disconnect();
    }

    const names = Array.from({ length: 12 }, (_, i) => `burst_${i}`);
    const tokens = await Promise.all(
      names.map(async (username) => {
        expect((await post('/api/users', { username, email: `${username}@example.test`, password: 'a long enough password' })).status).toBe(201);
        return ((await (await post('/api/auth/token', { username, password: 'a long enough password' })).json()) as { accessToken: string }).accessToken;
      }),
    );
    for (const token of tokens) {
      const welcomes = await eventually(async () => {
        const response = await fetch(`${gateway()}/api/notifications`, { headers: { authorization: `Bearer ${token}` } });
        const list = ((await response.json()) as { notifications: Array<{ kind: string }> }).notifications.filter((n) => n.kind === 'welcome');
        return list.length > 0 ? list : undefined;
      }, 30_000, 'a welcome notification');
      expect(welcomes).toHaveLength(1);
    }
    // A redelivery (after a rebalance, say) comes from offsets not yet committed: once the group
    // has committed everything, any second welcome would be there already.
    await stack.drained('notifications');
    for (const token of tokens) {
      const response = await fetch(`${gateway()}/api/notifications`, { headers: { authorization: `Bearer ${token}` } });
      expect(((await response.json()) as { notifications: Array<{ kind: string }> }).notifications.filter((n) => n.kind === 'welcome')).toHaveLength(1);
    }
  });

  it('users=2: the gateway sends requests to both instances, each behind its own breaker', async () => {
    const result = await run(['scale', 'users=2']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const users = (await status()).targets.filter((t) => t.name === 'users' || t.name === 'users#2');
    expect(users.map((t) => t.state)).toEqual(['healthy', 'healthy']);
    const before = await Promise.all(users.map((t) => requestsServed(t.port!, '/users')));
    for (let i = 0; i < 10; i++) {
      expect((await post('/api/users', { username: `balanced_${i}`, email: `balanced_${i}@example.test`, password: 'a long enough password' })).status).toBe(201);
    }
    const after = await Promise.all(users.map((t) => requestsServed(t.port!, '/users')));
    expect(after[0]! - before[0]!).toBeGreaterThan(0);
    expect(after[1]! - before[1]!).toBeGreaterThan(0);
    expect(after[0]! - before[0]! + (after[1]! - before[1]!)).toBe(10);
    const gatewayHealth = (await (await fetch(`${gateway()}/health`)).json()) as { circuits: Array<{ name: string }> };
    expect(gatewayHealth.circuits.map((c) => c.name)).toEqual(expect.arrayContaining(['upstream:users#1', 'upstream:users#2']));
  });

  it('scale back down stops the extra instances; the count is kept for the next up', async () => {
    expect((await run(['scale', 'users=1'])).exitCode).toBe(0);
    expect((await status()).targets.filter((t) => t.name.startsWith('users')).map((t) => t.name)).toEqual(['users']);
    const bad = await run(['scale', 'nosuch=2']);
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toMatch(/no service named nosuch/);
  });
});
