/** Small TCP port helpers shared by the local runtime and the test harness. */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { MsctlError } from '../core/errors';
import { sleep } from '../core/sleep';

/** True when nothing listens on host:port (checked by binding it for a moment). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * The ports the kernel gives outgoing connections their local end from. A listener picked among
 * them (as port 0 does) can be taken by any client socket before it binds: a Kafka client, a
 * browser, another test.
 */
function ephemeralPorts(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    /* not Linux: the IANA dynamic range */
  }
  return [49152, 65535];
}

const LOWEST_PICKED = 10_000;

/**
 * A port free right now (there is a small race until someone binds it), chosen at random below
 * the ephemeral range so that no outgoing connection takes it meanwhile; the kernel's choice
 * when that range leaves no room.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const [low, high] = ephemeralPorts();
  const [from, to] = low - LOWEST_PICKED >= 1_000 ? [LOWEST_PICKED, low] : [high + 1, 65_536];
  if (to - from >= 1_000) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = randomInt(from, to);
      if (await isPortFree(port, host)) return port;
    }
  }
  return kernelPort(host);
}

function kernelPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Resolves true once host:port is free, false after timeoutMs. */
export async function waitForPortFree(port: number, timeoutMs = 10_000, host = '127.0.0.1'): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await isPortFree(port, host)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
}

/** Throws PORT_IN_USE when a port msctl must bind is already taken. */
export async function assertPortFree(port: number, what: string, host = '127.0.0.1'): Promise<void> {
  if (!(await isPortFree(port, host))) {
    throw new MsctlError(
      'PORT_IN_USE',
      `Port ${port} (${what}) on ${host} is already in use.`,
      `Stop whatever listens on port ${port} (\`ss -ltnp 'sport = :${port}'\` shows it) or choose another port.`,
    );
  }
}

/** True while a process with this pid exists (signal 0 probe). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie has exited; it only waits for its parent (or an init that may never reap it).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/**
 * Sends `signal`, waits up to timeoutMs for the process to go away, then SIGKILL.
 * Works for processes that are not our children (pid files of detached servers).
 */
export async function terminatePid(pid: number, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<void> {
  if (!isProcessAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const killDeadline = Date.now() + 5_000;
  while (isProcessAlive(pid) && Date.now() < killDeadline) await sleep(50);
}
