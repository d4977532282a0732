/**
 * `msctl env`, `msctl exec` and `msctl psql` on the docker runtime, through the built binary and a
 * real dockerd: env shows what the container was created with (in-network addresses, secrets
 * masked), psql reaches the published PostgreSQL as the service's role, exec runs inside the
 * container with that environment and returns the command's exit code, and an edited override
 * reaches the service at `msctl restart` (a new container, as `up` would make). Only users and
 * what it needs run: a docker stack start is slow on a small machine.
 */
import { execa } from 'execa';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { msctl } from '../support/cli';
import { dockerStackForThisFile } from '../support/docker-stack';
import { msctlOnTerminal } from '../support/terminal';

const stack = dockerStackForThisFile(['users']);
const { run } = stack;
/** With --project-dir before `--`: what follows it belongs to the command. */
const exec = (args: string[], input?: string) => msctl(['exec', '--project-dir', stack.project().dir, ...args], { env: stack.env(), ...(input === undefined ? {} : { input }) });
const containerEnv = async () => {
  const entries = JSON.parse(String((await execa('docker', ['inspect', '--format', '{{json .Config.Env}}', `${stack.name()}-users-1`])).stdout)) as string[];
  return Object.fromEntries(entries.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
};

describe('reaching a service on the docker runtime', () => {
  it('msctl env shows what the container runs with, secrets masked unless asked', async () => {
    const shown = JSON.parse(String((await run(['env', 'users', '--json', '--show-secrets'])).stdout)) as { runtime: string; env: Record<string, string> };
    expect(shown.runtime).toBe('docker');
    expect(shown.env).toMatchObject({ HOST: '0.0.0.0', KAFKA_BROKERS: 'kafka:9092', DATABASE_SCHEMA: 'users' });
    const running = await containerEnv();
    for (const [key, value] of Object.entries(shown.env)) expect(running[key], key).toBe(value);
    const secrets = JSON.parse(await readFile(join(stack.project().dir, '.msctl', 'secrets.json'), 'utf8')) as { jwtSecret: string };
    const masked = String((await run(['env', 'users'])).stdout);
    expect(masked).toMatch(/^DATABASE_URL='postgres:\/\/users:\*\*\*\*@postgres:5432\/postgres'$/m);
    expect(masked).toMatch(/^JWT_SECRET='\*\*\*\*'$/m);
    expect(masked).not.toContain(secrets.jwtSecret);
  });

  it("msctl psql reaches the container's PostgreSQL from the host, as the service's role on its schema", async () => {
    const own = await run(['psql', 'users', '-c', 'select current_user as who, current_schema() as schema']);
    expect(own.exitCode, String(own.stderr)).toBe(0);
    expect(String(own.stdout)).toMatch(/ users \| users\n/);
  });

  it('msctl exec runs inside the container with its environment and exits with the command\'s code', async () => {
    const hostname = String((await execa('docker', ['inspect', '--format', '{{.Config.Hostname}}', `${stack.name()}-users-1`])).stdout).trim();
    const result = await exec(['users', '--', 'node', '-e', "console.log(require('os').hostname(), process.env.SERVICE_NAME, process.env.KAFKA_BROKERS); process.exit(5)"]);
    expect(result.exitCode, String(result.stderr)).toBe(5);
    expect(String(result.stdout).trim()).toBe(`${hostname} users kafka:9092`);
    const errors = await exec(['users', '--', 'node', '-e', "process.stderr.write('to stderr')"]);
    expect(errors.exitCode).toBe(0);
    expect(String(errors.stderr)).toBe('to stderr');
    expect(String(errors.stdout)).toBe('');
    // At a terminal the command gets one (an exec with a TTY), and its exit code still comes back.
    const tty = await msctlOnTerminal(['exec', '--project-dir', stack.project().dir, 'users', '--', 'node', '-e', 'process.stdout.write(`tty=${process.stdout.isTTY}`); process.exit(4)'], stack.env());
    expect(tty.exitCode, String(tty.stderr)).toBe(4);
    expect(String(tty.stdout)).toContain('tty=true');
    // stdin reaches the command, and its end ends the command's input.
    const echoed = await exec(['users', '--', 'node', '-e', 'process.stdin.pipe(process.stdout)'], 'from the host');
    expect(echoed.exitCode, String(echoed.stderr)).toBe(0);
    expect(String(echoed.stdout)).toBe('from the host');
  });

  it('an override shows in msctl env and exec at once, and in the container after msctl restart', async () => {
    await mkdir(join(stack.project().dir, '.msctl', 'env'), { recursive: true });
    await writeFile(join(stack.project().dir, '.msctl', 'env', 'users.env'), 'LOG_LEVEL=debug\n');
    expect(String((await run(['env', 'users'])).stdout)).toMatch(/^LOG_LEVEL=debug {2}# override: \.msctl\/env\/users\.env$/m);
    expect(String((await exec(['users', '--', 'node', '-e', 'process.stdout.write(process.env.LOG_LEVEL)'])).stdout)).toBe('debug');
    expect((await containerEnv()).LOG_LEVEL).toBe('info');
    const restart = await run(['restart', 'users']);
    expect(restart.exitCode, `${restart.stdout}\n${restart.stderr}`).toBe(0);
    expect((await containerEnv()).LOG_LEVEL).toBe('debug');
  });
});
