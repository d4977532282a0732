/**
 * The commands of this work on the docker runtime: `ps -q` prints container ids, `logs` lines
 * carry the Engine's time (so -t and --until work for every container, Kafka's too), and doctor
 * counts the stack's published ports as the stack's.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { StackStatus } from '../../src/runtime/types';
import { dockerStackForThisFile } from '../support/docker-stack';

const stack = dockerStackForThisFile();
const run = stack.run;

describe('on the docker runtime', () => {
  it('ps -q: the id of each running container, as docker ps knows it', async () => {
    const result = await run(['ps', '-q']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const ids = String(result.stdout).split('\n');
    const dockerIds = String((await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=com.docker.compose.project=${stack.name()}`])).stdout).split('\n');
    expect([...ids].sort()).toEqual([...dockerIds].sort());
    const status = JSON.parse(String((await run(['status', '--json'])).stdout)) as StackStatus;
    expect(ids).toEqual(status.targets.filter((target) => target.state !== 'stopped').map((target) => target.id));
  });

  it("logs: every line has the Engine's time, so -t and --until work for Kafka's lines too", async () => {
    const stamped = await run(['logs', 'kafka', 'users', '-t', '--no-log-prefix', '--raw', '--tail', '3']);
    expect(stamped.exitCode, String(stamped.stderr)).toBe(0);
    const lines = String(stamped.stdout).split('\n');
    expect(lines).toHaveLength(6);
    for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S/);
    const json = await run(['logs', 'users', '--json', '--tail', '2']);
    for (const line of String(json.stdout).split('\n')) expect(JSON.parse(line)).toMatchObject({ target: 'users', time: expect.stringMatching(/Z$/), record: { service: 'users' } });
    const before = await run(['logs', 'kafka', '--until', '2000-01-01T00:00:00Z']);
    expect(before).toMatchObject({ exitCode: 0, stdout: '' });
  });

  it('doctor: the ports the stack publishes are the stack’s, and it exits 0', async () => {
    const result = await run(['doctor', '--json']);
    const report = JSON.parse(String(result.stdout)) as { checks: Array<{ name: string; status: string; detail: string }> };
    const { env, ports } = stack.project();
    for (const port of [env.MSCTL_KAFKA_PORT, env.MSCTL_POSTGRES_PORT, String(ports.gateway)]) {
      expect(report.checks.find((check) => check.name === `port ${port}`)?.detail).toMatch(/^ok, held by this stack/);
    }
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
    expect(result.exitCode).toBe(0);
  });
});
