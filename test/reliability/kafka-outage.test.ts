/**
 * Suite 1, Kafka outage: ingest at a fixed rate, stop Kafka with `msctl chaos stop kafka`,
 * start it again. Events refused meanwhile get 503 with Retry-After. A 503 does not say the
 * event was not stored (a produce that timed out may still have landed), so the client does
 * what the API tells it: it sends every refused event again, with the same id, once Kafka is
 * back. Then analytics must count every event exactly once, and the ids it applied must be
 * exactly the ids sent: none lost, none counted twice, even those stored and sent again. Users created during the outage reach
 * users.events from the outbox after recovery.
 */
import { execa } from 'execa';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { eventually, uniqueSuffix } from '@msctl/kit/testing';
import { repoRoot } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';
import { sleep } from '../../src/core/sleep';

const stack = stackForThisFile();
const { gateway, post } = stack;

describe('Kafka outage', () => {
  it('loses nothing it accepted, counts nothing twice, refuses with 503 + Retry-After meanwhile', async () => {
    // The default rate limit (100/s per client) is well above this test's 25 requests/s.
    const suffix = uniqueSuffix();
    const type = `outage.t${suffix}`;
    expect((await post('/api/users', { username: `outage_${suffix}`, email: `outage_${suffix}@example.test`, password: 'a long enough password' })).status).toBe(201);
    const { accessToken } = (await (await post('/api/auth/token', { username: `outage_${suffix}`, password: 'a long enough password' })).json()) as { accessToken: string };
    const kafkaPort = stack.project().env.MSCTL_KAFKA_PORT!;

    let accepted = 0;
    const sent: string[] = [];
    const refused: Array<{ id: string; type: string; data: { n: number } }> = [];
    const refusedWithoutRetryAfter: number[] = [];
    const unexpected: string[] = [];
    const pending: Array<Promise<void>> = [];
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const event = { id: randomUUID(), type, data: { n: pending.length } };
        sent.push(event.id);
        pending.push(
          post('/api/events', event, accessToken).then(
            async (response) => {
              await response.body?.cancel();
              if (response.status === 202) accepted += 1;
              else if (response.status === 503) {
                refused.push(event);
                if (!response.headers.get('retry-after')) refusedWithoutRetryAfter.push(response.status);
              } else unexpected.push(String(response.status));
            },
            (error: unknown) => void unexpected.push((error as Error).name),
          ),
        );
        await sleep(40);
      }
    })();

    await eventually(async () => (accepted >= 10 ? true : undefined), 20_000, 'events to be accepted before the outage');
    const chaos = execa(process.execPath, [join(repoRoot, 'bin', 'msctl.js'), 'chaos', 'stop', 'kafka', '--for', '12s', '--project-dir', stack.project().dir], {
      env: { ...stack.project().env, NO_COLOR: '1', MSCTL_RUNTIME: 'local' },
      reject: false,
    });
    // The outage is real once the broker refuses connections and the ingest path says so.
    await eventually(async () => (!(await acceptsConnections(kafkaPort)) && refused.length > 0 ? true : undefined), 30_000, 'Kafka to be down and ingest to refuse');
    // Users do not need Kafka to sign up: their events wait in the outbox.
    const during: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post('/api/users', { username: `during_${suffix}_${i}`, email: `during_${suffix}_${i}@example.test`, password: 'a long enough password' });
      expect(response.status).toBe(201);
      during.push(((await response.json()) as { id: string }).id);
    }
    expect(await acceptsConnections(kafkaPort)).toBe(false);
    const chaosResult = await chaos;
    expect(chaosResult.exitCode, String(chaosResult.stderr)).toBe(0);
    // Kafka is back once ingest accepts again.
    const acceptedWhenBack = accepted;
    await eventually(async () => (accepted >= acceptedWhenBack + 10 ? true : undefined), 60_000, 'ingest to accept events again after the outage');
    sending = false;
    await sender;
    await Promise.all(pending);

    process.stderr.write(`[kafka outage] sent ${pending.length}, accepted ${accepted}, refused ${refused.length} (503), other ${unexpected.length}\n`);
    expect(unexpected).toEqual([]);
    expect(refusedWithoutRetryAfter).toEqual([]);

    // Kafka is back: every refused event again, with its id, until it is accepted.
    for (let i = 0; i < refused.length; i += 20) {
      await Promise.all(
        refused.slice(i, i + 20).map((event) =>
          eventually(async () => {
            const response = await post('/api/events', event, accessToken);
            await response.body?.cancel();
            return response.status === 202 ? true : undefined;
          }, 30_000, `event ${event.id} to be accepted when sent again`),
        ),
      );
    }

    // Every event applied once: the lag of both groups on the path is 0, then the count and the
    // very ids analytics claimed match what was sent (a loss and a double cannot cancel out).
    for (const group of ['data-processing', 'analytics']) {
      await stack.drained(group, 90_000).catch(async (error: unknown) => {
        const logs = await stack.run(['logs', 'data-processing', 'analytics', '--tail', '25', '--raw']);
        throw new Error(`${(error as Error).message}\n--- logs:\n${logs.stdout}`);
      });
    }
    const summary = (await (await fetch(`${gateway()}/api/analytics/summary`, { headers: { authorization: `Bearer ${accessToken}` } })).json()) as { byType: Record<string, number> };
    const applied = await stack.query<{ event_id: string }>('SELECT event_id FROM analytics.processed_events WHERE consumer = $1 AND event_id = ANY($2::text[])', ['analytics', sent]);
    process.stderr.write(`[kafka outage] ${refused.length} refused events sent again and accepted; analytics counted ${summary.byType[type]} of ${sent.length}\n`);
    const claimed = new Set(applied.map((row) => row.event_id));
    const missing = sent.filter((id) => !claimed.has(id));
    if (missing.length > 0) {
      // Say where the missing events went: dead letters, and what the services logged about them.
      const letters = await stack.run(['topics', 'dlq', '--json']);
      const logs = await stack.run(['logs', 'data-processing', 'analytics', '--tail', '5000', '--raw']);
      const mentions = String(logs.stdout).split('\n').filter((line) => missing.some((id) => line.includes(id)) || /"level":(40|50)/.test(line));
      process.stderr.write(`[kafka outage] not applied: ${missing.join(', ')}\n--- dead letters:\n${letters.stdout}\n--- logs:\n${mentions.slice(-60).join('\n')}\n`);
    }
    expect(missing).toEqual([]);
    expect(summary.byType[type]).toBe(sent.length);

    await eventually(async () => {
      const { stdout } = await execa('kcat', ['-b', `127.0.0.1:${kafkaPort}`, '-C', '-t', 'users.events', '-o', 'beginning', '-e', '-q', '-f', '%k\\n'], { timeout: 20_000 });
      const keys = new Set(stdout.split('\n'));
      return during.every((id) => keys.has(id)) ? true : undefined;
    }, 60_000, 'the users created during the outage to reach users.events');
  });
});

/** Whether something listens on 127.0.0.1:port. */
function acceptsConnections(port: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
