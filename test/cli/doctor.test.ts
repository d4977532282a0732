import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MsctlError } from '../../src/core/errors';
import { pingDocker, portsInState, runDoctor, stackPorts, type DoctorProbes } from '../../src/doctor/doctor';
import type { StackStatus, TargetStatus } from '../../src/runtime/types';
import { renderDoctor } from '../../src/cli/commands/doctor/run';

const GiB = 1024 ** 3;

function probes(overrides: Partial<DoctorProbes> = {}): DoctorProbes {
  return {
    nodeVersion: () => '24.1.0',
    java: async () => ({ major: 21, version: '21.0.2', path: '/usr/bin/java' }),
    kafkaJars: async () => ({ kind: 'cached', dir: '/cache/kafka/4.1.0' }),
    docker: async () => ({ ok: true, endpoint: '/var/run/docker.sock' }),
    portFree: async () => true,
    msctlPorts: async () => new Set(),
    diskFree: async () => 50 * GiB,
    which: async (command) => (command === 'kcat' ? '/usr/bin/kcat' : undefined),
    ...overrides,
  };
}

const input = { dir: '/p', ports: [{ port: 19092, what: 'kafka', env: 'MSCTL_KAFKA_PORT' }, { port: 4000, what: 'gateway' }] };
const byName = (report: Awaited<ReturnType<typeof runDoctor>>, name: string) => report.checks.find((c) => c.name === name)!;

describe('doctor core', () => {
  it('all ok on a well-equipped machine', async () => {
    const report = await runDoctor(input, probes());
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(['node', 'java', 'kafka jars', 'docker', 'port 19092', 'port 4000', 'disk', 'kcat']);
    expect(report.checks.every((c) => c.status === 'ok' && c.fix === undefined)).toBe(true);
  });

  it('every non-ok check has a fix; a failure makes the report not ok', async () => {
    const report = await runDoctor(
      input,
      probes({
        nodeVersion: () => '20.11.0',
        java: async () => {
          throw new MsctlError('JAVA_MISSING', 'No Java runtime found.', 'install openjdk-17');
        },
        kafkaJars: async () => ({ kind: 'missing' }),
        docker: async () => ({ ok: false, endpoint: '/var/run/docker.sock', reason: 'no such socket' }),
        portFree: async (port) => port !== 4000,
        diskFree: async () => 1 * GiB,
        which: async () => undefined,
      }),
    );
    expect(report.ok).toBe(false);
    for (const check of report.checks.filter((c) => c.status !== 'ok')) expect(check.fix, check.name).toBeTruthy();
    expect(byName(report, 'node').status).toBe('fail');
    expect(byName(report, 'java')).toMatchObject({ status: 'fail', fix: 'install openjdk-17' });
    expect(byName(report, 'kafka jars').status).toBe('fail');
    expect(byName(report, 'kafka jars').fix).toContain('maven');
    expect(byName(report, 'docker').status).toBe('warn'); // the local runtime needs no Docker
    expect(byName(report, 'port 4000')).toMatchObject({ status: 'fail' });
    expect(byName(report, 'port 4000').fix).toContain("ss -ltnp 'sport = :4000'");
    expect(byName(report, 'port 19092').status).toBe('ok');
    expect(byName(report, 'disk').status).toBe('warn');
    expect(byName(report, 'kcat').status).toBe('warn');
  });

  it('missing Java or jars only warn when Docker answers (the docker runtime needs neither)', async () => {
    const report = await runDoctor(
      input,
      probes({
        java: async () => {
          throw new MsctlError('JAVA_MISSING', 'No Java runtime found.');
        },
        kafkaJars: async () => ({ kind: 'missing' }),
      }),
    );
    expect(byName(report, 'java').status).toBe('warn');
    expect(byName(report, 'kafka jars').status).toBe('warn');
    expect(report.ok).toBe(true);
  });

  it("a port held by this stack's own processes is ok", async () => {
    const report = await runDoctor(input, probes({ portFree: async () => false, msctlPorts: async () => new Set([19092]) }));
    expect(byName(report, 'port 19092')).toMatchObject({ status: 'ok', detail: 'ok, held by this stack (kafka)' });
    expect(byName(report, 'port 4000').status).toBe('fail');
  });

  it('jars resolvable through Maven or KAFKA_HOME are ok', async () => {
    expect(byName(await runDoctor(input, probes({ kafkaJars: async () => ({ kind: 'mvn', path: '/usr/bin/mvn' }) })), 'kafka jars').status).toBe('ok');
    expect(byName(await runDoctor(input, probes({ kafkaJars: async () => ({ kind: 'kafka-home', dir: '/k/libs', jars: 90 }) })), 'kafka jars').status).toBe('ok');
  });

  it('outside a project: a warning with the fix', async () => {
    const report = await runDoctor({ ...input, projectProblem: { message: 'no msctl project here', hint: 'pass --project-dir' } }, probes());
    expect(report.checks[0]).toEqual({ name: 'project', status: 'warn', detail: 'no msctl project here', fix: 'pass --project-dir' });
    expect(report.ok).toBe(true);
  });

  it('finds ports anywhere in the state file', () => {
    expect([...portsInState({ supervisor: { pid: 1 }, targets: [{ name: 'users', port: 4001, pid: 7 }, { name: 'kafka', port: 19092, controllerPort: 19093 }], ports: [15432] })].sort()).toEqual([
      15432, 19092, 19093, 4001,
    ]);
  });

  it("a running stack's ports: broker and controller while kafka runs, PostgreSQL's, each running service's", () => {
    const target = (name: string, state: string, port: number | null): TargetStatus => ({
      name, kind: 'service', state, health: 'pass', pid: 1, port, uptimeSeconds: 1, restarts: 0, lastExit: null, checks: {}, circuits: {}, problems: {}, detail: null,
    });
    const status = (targets: TargetStatus[]): StackStatus => ({ runtime: 'local', project: '/p', supervisor: { state: 'running', pid: 1 }, healthy: true, targets });
    const infra = { kafkaPort: 19092, kafkaControllerPort: 19093, postgresPort: 15432, postgresUser: 'msctl' };
    expect([...stackPorts(status([target('kafka', 'running', 19092), target('postgres', 'running', null), target('users', 'healthy', 4001), target('notifications', 'stopped', 4003)]), infra)].sort((a, b) => a - b)).toEqual([
      4001, 15432, 19092, 19093,
    ]);
    expect(stackPorts(status([target('kafka', 'stopped', null)]), infra).size).toBe(0);
  });

  it('renders a table with the fixes, without colour codes when colour is off', async () => {
    const report = await runDoctor(input, probes({ portFree: async (port) => port !== 4000 }));
    const text = renderDoctor(report, false);
    expect(text).not.toContain('\u001b[');
    expect(text).toMatch(/^STATUS +CHECK +DETAIL$/m);
    expect(text).toMatch(/^fail +port 4000 +in use by another program; gateway needs it$/m);
    expect(text).toMatch(/^ +fix: stop what listens on it/m);
    expect(text).toContain('1 problem to fix');
  });
});

describe('docker ping', () => {
  it('answers ok over a unix socket with GET /_ping, and not ok when nothing listens', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'msctl-docker-'));
    const socketPath = join(dir, 'docker.sock');
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(`${req.method} ${req.url}`);
      res.end('OK');
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      expect(await pingDocker({ DOCKER_HOST: `unix://${socketPath}` })).toEqual({ ok: true, endpoint: socketPath });
      expect(paths).toEqual(['GET /_ping']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const gone = await pingDocker({ DOCKER_HOST: `unix://${socketPath}` });
    expect(gone.ok).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });
});
