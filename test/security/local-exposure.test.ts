/**
 * Suite 6, exposure, on a real local stack (`msctl up -d` in a throwaway project, the built
 * binary): every socket that any process of the stack listens on — services, the supervisor,
 * Kafka's JVM, PostgreSQL and their children — is bound to 127.0.0.1; .msctl/secrets.json is
 * 0600; and no secret is written to a file anyone else can read.
 *
 * Docker: test/e2e/docker-runtime.test.ts already asserts that every published port is bound to
 * 127.0.0.1 and that the containers run as uid 1000; it is not repeated here.
 */
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicePassword, type StackSecrets } from '../../src/stack/secrets';
import type { StackStatus } from '../../src/runtime/types';
import { msctl, repoRoot } from '../support/cli';
import { createThrowawayProject, type ThrowawayProject } from '../support/throwaway-project';

let throwaway: ThrowawayProject;
let project: string;
let env: Record<string, string>;

beforeAll(async () => {
  throwaway = await createThrowawayProject(repoRoot);
  ({ dir: project, env } = throwaway);
  const up = await msctl(['up', '-d', '--project-dir', project], { env });
  expect(up.exitCode, `${up.stdout}\n${up.stderr}`).toBe(0);
});
afterAll(async () => {
  if (project) {
    await msctl(['down', '-v', '--project-dir', project], { env });
    await throwaway.remove();
  }
});

interface Listener {
  address: string;
  port: number;
  inode: string;
}

/** Every listening TCP socket of the machine (IPv4 and IPv6), from /proc/net. */
async function listeners(): Promise<Listener[]> {
  const found: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').slice(1);
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue; // 0A = LISTEN
      const [hex, port] = fields[1]!.split(':') as [string, string];
      found.push({ address: decodeAddress(hex), port: Number.parseInt(port, 16), inode: fields[9]! });
    }
  }
  return found;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return Buffer.from(hex, 'hex').reverse().join('.');
  // IPv6: four little-endian 32-bit words.
  const words = hex.match(/.{8}/g)!.map((word) => Buffer.from(word, 'hex').reverse().toString('hex'));
  const groups = words.join('').match(/.{4}/g)!;
  const text = groups.join(':');
  if (text === '0000:0000:0000:0000:0000:ffff:7f00:0001') return '::ffff:127.0.0.1';
  if (/^0000:0000:0000:0000:0000:0000:0000:0001$/.test(text)) return '::1';
  if (/^(0000:){7}0000$/.test(text)) return '::';
  return text;
}

/** The pid and every descendant of it. */
async function processTree(root: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const text = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const after = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (after[1]) parents.set(Number(entry), Number(after[1]));
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, parent] of parents) if (parent === tree[i] && !tree.includes(pid)) tree.push(pid);
  return tree;
}

async function socketInodes(pid: number): Promise<Set<string>> {
  const inodes = new Set<string>();
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const match = /^socket:\[(\d+)\]$/.exec(target);
    if (match) inodes.add(match[1]!);
  }
  return inodes;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(path)));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

describe('suite 6: exposure of a local stack', () => {
  it('listens on 127.0.0.1 only: every service, the supervisor, Kafka and PostgreSQL', async () => {
    const result = await msctl(['status', '--json', '--project-dir', project], { env });
    const status = JSON.parse(String(result.stdout)) as StackStatus;
    expect(status.healthy).toBe(true);
    const roots = [
      ...status.targets.map((target) => ({ name: target.name, pid: target.pid })),
      { name: 'supervisor', pid: status.supervisor.pid },
    ];
    expect(roots.map((root) => root.name).sort()).toEqual(['analytics', 'data-processing', 'gateway', 'kafka', 'notifications', 'postgres', 'supervisor', 'users']);
    const all = await listeners();
    const report: Record<string, string[]> = {};
    for (const root of roots) {
      expect(root.pid, `${root.name} has a pid`).toEqual(expect.any(Number));
      const inodes = new Set<string>();
      for (const pid of await processTree(root.pid!)) for (const inode of await socketInodes(pid)) inodes.add(inode);
      report[root.name] = all.filter((listener) => inodes.has(listener.inode)).map((listener) => `${listener.address}:${listener.port}`);
    }
    console.log(`[exposure] listening sockets per target: ${JSON.stringify(report)}`);
    for (const [name, sockets] of Object.entries(report)) {
      if (name !== 'supervisor') expect(sockets.length, `${name} listens somewhere`).toBeGreaterThan(0);
      for (const socket of sockets) expect(socket, `${name} listens on ${socket}`).toMatch(/^(127\.0\.0\.1|::ffff:127\.0\.0\.1):\d+$/);
    }
    // The JVM binds IPv4 addresses through an IPv6 socket: ::ffff:127.0.0.1 is 127.0.0.1.
    const ipv4 = (sockets: string[] | undefined) => (sockets ?? []).map((socket) => socket.replace(/^::ffff:/, ''));
    expect(ipv4(report.gateway)).toContain(`127.0.0.1:${throwaway.ports.gateway}`);
    expect(ipv4(report.postgres)).toContain(`127.0.0.1:${env.MSCTL_POSTGRES_PORT}`);
    expect(ipv4(report.kafka)).toContain(`127.0.0.1:${env.MSCTL_KAFKA_PORT}`);
  });

  it('keeps .msctl/secrets.json 0600, and no secret in any file others can read', async () => {
    const stateDir = join(project, '.msctl');
    const secretsFile = join(stateDir, 'secrets.json');
    expect((await stat(secretsFile)).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(await readFile(secretsFile, 'utf8')) as StackSecrets;
    expect(Object.keys(stored).sort()).toEqual(['internalAuth', 'jwtSecret', 'otlpToken', 'postgresPassword', 'roleSeed']);
    // Every secret value, the derived database passwords included; the public key is not one.
    const secrets: Record<string, string> = {
      jwtSecret: stored.jwtSecret,
      postgresPassword: stored.postgresPassword,
      internalAuthPrivateKey: stored.internalAuth.privateKey.split('\n')[1]!,
      otlpToken: stored.otlpToken,
      roleSeed: stored.roleSeed,
      ...Object.fromEntries(['users', 'notifications', 'analytics'].map((service) => [`${service} database password`, servicePassword(stored, service)])),
    };
    const leaks: string[] = [];
    let checked = 0;
    // Postgres' data directory holds no secret in clear and is the server's own (0700): skip its bulk.
    for (const file of (await filesUnder(stateDir)).filter((path) => !path.includes(`${join(stateDir, 'data')}/postgres/`))) {
      // The supervisor writes its state to a temporary file it renames into place: one listed a
      // moment ago may be gone. Gone is not readable.
      const info = await stat(file).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
      if (!info) continue;
      const mode = info.mode & 0o777;
      if ((mode & 0o077) === 0) continue;
      const text = await readFile(file, 'utf8').catch(() => '');
      checked++;
      for (const [name, value] of Object.entries(secrets)) if (text.includes(value)) leaks.push(`${file} (mode ${mode.toString(8)}) holds ${name}`);
    }
    console.log(`[exposure] ${checked} group/world-readable files under .msctl checked for secrets`);
    expect(checked).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });
});
