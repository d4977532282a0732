/**
 * Stops PostgreSQL under the users service and starts it again. This file runs its own
 * PostgreSQL server (not the run's shared one), because stopping the shared server would
 * break every other test.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type RunningService } from '@msctl/kit';
import { asCaller, eventually, testEnv } from '@msctl/kit/testing';
import { usersService } from '../../services/users/src/service';
import { startPostgres, type PostgresServer } from '../../src/infra/postgres/server';
import { findFreePort } from '../../src/infra/ports';

let root: string;
let postgres: PostgresServer;
let users: RunningService<unknown>;
const password = randomBytes(12).toString('hex');
let port: number;

const start = () => startPostgres({ dataDir: join(root, 'data'), port, user: 'msctl', password });

interface Health {
  status: string;
  checks: Record<string, Array<{ status: string }>>;
  circuits: Array<{ name: string; state: string; stats: { rejects: number; failures: number } }>;
}
/** The health document and the status code probes and the supervisor act on. */
const health = async () => {
  const response = await fetch(`${users.url}/health`);
  return { ...((await response.json()) as Health), httpStatus: response.status };
};
const postgresCircuit = async () => (await health()).circuits.find((c) => c.name === 'postgres')!;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'msctl-breaker-'));
  await chmod(root, 0o755);
  port = await findFreePort();
  postgres = await start();
  users = (await startService(usersService, {
    env: testEnv('users', {
      extra: { DATABASE_URL: postgres.url, BREAKER_RESET_MS: '1500', BREAKER_VOLUME_THRESHOLD: '3', BREAKER_TIMEOUT_MS: '2000' },
    }),
  })) as RunningService<unknown>;
});

afterAll(async () => {
  await users?.close();
  await postgres?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('users when PostgreSQL goes away and comes back', () => {
  it('answers 503 fast with the circuit open, then recovers once PostgreSQL is back', async () => {
    const signUp = async (name: string) =>
      fetch(`${users.url}/users`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await asCaller('users')) },
        body: JSON.stringify({ username: name, email: `${name}@example.test`, password: 'a long enough password' }),
      });
    expect((await signUp('before_stop')).status).toBe(201);
    expect((await postgresCircuit()).state).toBe('closed');

    await postgres.stop();

    // The first failures reach the dead server and open the breaker…
    const statuses: number[] = [];
    const someone = await asCaller('users', { subject: '00000000-0000-4000-8000-000000000001' });
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${users.url}/users/00000000-0000-4000-8000-000000000000`, { headers: someone })).status);
    expect(statuses.every((status) => status === 503)).toBe(true);
    expect((await postgresCircuit()).state).toBe('open');

    // …after which requests are refused at once with Retry-After, without touching the database:
    // each one is a reject of the open breaker, none a failure of a call.
    const before = (await postgresCircuit()).stats;
    const latencies: number[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < 50; i++) {
      const started = performance.now();
      refused = await signUp(`during_outage_${i}`);
      latencies.push(performance.now() - started);
      expect(refused.status).toBe(503);
    }
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused!.json()).toMatchObject({ error: 'unavailable' });
    // A sign-up asks the breaker before it hashes the password (scrypt), so a refusal costs
    // about a millisecond. Should the reset timeout pass meanwhile (a slow machine), the breaker
    // lets exactly one trial call through, which fails and opens it again.
    const after = (await postgresCircuit()).stats;
    const rejects = after.rejects - before.rejects;
    const trials = after.failures - before.failures;
    expect(rejects + trials).toBe(50);
    expect(trials).toBeLessThanOrEqual(3);
    latencies.sort((a, b) => a - b);
    process.stderr.write(`[postgres outage] 50 requests refused while open: p50 ${latencies[24]!.toFixed(1)} ms, p99 ${latencies[48]!.toFixed(1)} ms\n`);
    const report = await health();
    expect(report).toMatchObject({ httpStatus: 503, status: 'fail' });
    expect(report.checks['postgres:connection']?.[0]?.status).toBe('fail');

    postgres = await start();

    // After the reset timeout one trial call goes through, succeeds and closes the circuit.
    await eventually(async () => {
      const response = await signUp('after_restart');
      return response.status === 201 ? response : undefined;
    }, 20_000, 'a sign-up to succeed after PostgreSQL restarted');
    expect((await postgresCircuit()).state).toBe('closed');
    // The outbox relay's own breaker closes on its next successful poll.
    await eventually(async () => ((await health()).status === 'pass' ? true : undefined), 20_000, 'every breaker to close');
    expect((await health()).httpStatus).toBe(200);
    // The refused sign-ups stored nothing: their names are free.
    expect((await signUp('during_outage_0')).status).toBe(201);
  });
});
