/**
 * Reaching a service on the local runtime, through the built binary: `msctl token` signs up and
 * logs in a development user (the same one every time; `--export` is what bash evaluates),
 * `msctl psql` is the system's psql as a service's own role on its schema, `msctl env` shows what
 * the service runs with (secrets masked unless asked), `msctl exec` runs a command with it, and
 * an override file reaches the service at its next `msctl restart`.
 */
import { execa } from 'execa';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { msctl, repoRoot } from '../support/cli';
import { stackForThisFile } from '../support/running-stack';
import { msctlOnTerminal } from '../support/terminal';

const stack = stackForThisFile();
/** With --project-dir before `--`: what follows it belongs to the command. */
const exec = (args: string[], input?: string) => msctl(['exec', '--project-dir', stack.project().dir, ...args], { env: stack.project().env, ...(input === undefined ? {} : { input }) });
const secretsOf = async () => JSON.parse(await readFile(join(stack.project().dir, '.msctl', 'secrets.json'), 'utf8')) as { jwtSecret: string; otlpToken: string };
const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sub: string; username: string };
const environOf = async (pid: number) => Object.fromEntries((await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));

describe('msctl token [username]', () => {
  it('signs the development user up once, then logs the same user in', async () => {
    const first = await stack.run(['token', '--json']);
    expect(first.exitCode, String(first.stderr)).toBe(0);
    const second = await stack.run(['token', '--json']);
    expect(second.exitCode, String(second.stderr)).toBe(0);
    const [a, b] = [first, second].map((result) => JSON.parse(String(result.stdout)) as { accessToken: string; username: string; created: boolean });
    expect([a!.created, b!.created]).toEqual([true, false]);
    expect(payloadOf(a!.accessToken).sub).toBe(payloadOf(b!.accessToken).sub);
    expect(payloadOf(b!.accessToken).username).toBe('dev');
    const me = await fetch(`${stack.gateway()}/api/users/me`, { headers: { authorization: `Bearer ${b!.accessToken}` } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { username: string }).username).toBe('dev');
  });

  it('--export is what `eval` in bash turns into $TOKEN, for another user too; --client still signs a client token', async () => {
    const binary = join(repoRoot, 'bin', 'msctl.js');
    const shell = await execa('bash', ['-c', `eval "$("${process.execPath}" "${binary}" token ada --export --project-dir "${stack.project().dir}")" && printf %s "$TOKEN"`], {
      env: { ...stack.project().env, MSCTL_RUNTIME: 'local', NO_COLOR: '1' },
      reject: false,
    });
    expect(shell.exitCode, String(shell.stderr)).toBe(0);
    expect(payloadOf(String(shell.stdout)).username).toBe('ada');
    const me = await fetch(`${stack.gateway()}/api/users/me`, { headers: { authorization: `Bearer ${String(shell.stdout)}` } });
    expect(me.status).toBe(200);
    const client = await stack.run(['token', '--client', 'importer', '--export']);
    expect(String(client.stdout)).toMatch(/^export TOKEN='[\w-]+\.[\w-]+\.[\w-]+'$/);
    const both = await stack.run(['token', 'dev', '--client', 'importer']);
    expect(both.exitCode).toBe(2);
  });
});

describe('msctl psql [service]', () => {
  it("connects as the service's own role with its schema on the search_path, and exits with psql's code", async () => {
    const own = await stack.run(['psql', 'analytics', '-c', 'select current_user as who, current_schema() as schema']);
    expect(own.exitCode, String(own.stderr)).toBe(0);
    expect(String(own.stdout)).toMatch(/ analytics \| analytics\n/);
    // Unqualified names are the service's own tables.
    const table = await stack.run(['psql', 'users', '-c', "select count(*) as n from users where username = 'dev'"]);
    expect(String(table.stdout), String(table.stderr)).toMatch(/\n\s+1\n/);
    const other = await stack.run(['psql', 'notifications', '-c', 'select * from users.users']);
    expect(other.exitCode).toBe(1);
    expect(String(other.stderr)).toMatch(/permission denied for schema users/);
    const superuser = await stack.run(['psql', '-c', 'select current_user, rolsuper from pg_roles where rolname = current_user']);
    expect(superuser.exitCode, String(superuser.stderr)).toBe(0);
    expect(String(superuser.stdout)).toMatch(/msctl\s+\| t/);
    const gateway = await stack.run(['psql', 'gateway', '-c', 'select 1']);
    expect(gateway.exitCode).toBe(2);
    expect(String(gateway.stderr)).toMatch(/gateway does not use PostgreSQL/);
  });
});

describe('msctl env <service>', () => {
  it('masks the secrets unless --show-secrets, and --json is one object', async () => {
    const secrets = await secretsOf();
    const masked = await stack.run(['env', 'users']);
    expect(masked.exitCode, String(masked.stderr)).toBe(0);
    const text = String(masked.stdout);
    expect(text).toMatch(/^JWT_SECRET='\*\*\*\*'$/m);
    expect(text).toMatch(/^DATABASE_URL='postgres:\/\/users:\*\*\*\*@127\.0\.0\.1:\d+\/postgres'$/m);
    expect(text).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer \*\*\*\*'$/m);
    expect(text).toMatch(/^SERVICE_NAME=users$/m);
    expect(text).not.toContain(secrets.jwtSecret);
    expect(text).not.toContain(secrets.otlpToken);
    const shown = await stack.run(['env', 'users', '--show-secrets']);
    expect(String(shown.stdout)).toContain(`JWT_SECRET=${secrets.jwtSecret}`);
    const json = JSON.parse(String((await stack.run(['env', 'gateway', '--json'])).stdout)) as { env: Record<string, string>; runtime: string; masked: string[] };
    expect(json.runtime).toBe('local');
    expect(json.env.PORT).toBe(String(stack.project().ports.gateway));
    expect(json.env.INTERNAL_AUTH_PRIVATE_KEY).toBe('****');
    expect(json.masked).toContain('INTERNAL_AUTH_PRIVATE_KEY');
    // What the running gateway was started with, secrets aside.
    const gatewayPid = (await stack.status()).targets.find((target) => target.name === 'gateway')!.pid!;
    const running = await environOf(gatewayPid);
    for (const [key, value] of Object.entries(json.env)) if (!json.masked.includes(key)) expect(running[key], key).toBe(value);
  });
});

describe('msctl exec <service> -- <command>', () => {
  it("runs the command in the service's folder with its environment and exits with its code", async () => {
    const result = await exec(['users', '--', 'node', '-e', 'console.log(process.env.SERVICE_NAME, process.env.DATABASE_SCHEMA, process.cwd()); process.exit(7)']);
    expect(result.exitCode, String(result.stderr)).toBe(7);
    expect(String(result.stdout).trim()).toBe(`users users ${join(stack.project().dir, 'services', 'users')}`);
    const tty = await msctlOnTerminal(['exec', '--project-dir', stack.project().dir, 'users', '--', 'node', '-e', 'process.stdout.write(`tty=${process.stdout.isTTY}`); process.exit(4)'], stack.project().env);
    expect(tty.exitCode, String(tty.stderr)).toBe(4);
    expect(String(tty.stdout)).toContain('tty=true');
    const echoed = await exec(['users', '--', 'node', '-e', 'process.stdin.pipe(process.stdout)'], 'from the terminal');
    expect(String(echoed.stdout)).toBe('from the terminal');
    const missing = await exec(['users', '--', 'no-such-program-here']);
    expect(missing.exitCode).toBe(2);
    expect(String(missing.stderr)).toMatch(/no-such-program-here: command not found/);
  });
});

describe('per-service overrides', () => {
  it('show in msctl env with their file, and reach the service at its next restart', async () => {
    const dir = stack.project().dir;
    await writeFile(join(dir, 'services', 'users', '.env'), '# mine, not committed\nLOG_LEVEL=warn\nGREETING="hello there"\n');
    await mkdir(join(dir, '.msctl', 'env'), { recursive: true });
    await writeFile(join(dir, '.msctl', 'env', 'users.env'), 'LOG_LEVEL=debug\n');
    const env = await stack.run(['env', 'users']);
    expect(String(env.stdout)).toMatch(/^LOG_LEVEL=debug {2}# override: \.msctl\/env\/users\.env$/m);
    expect(String(env.stdout)).toMatch(/^GREETING='hello there' {2}# override: services\/users\/\.env$/m);
    const json = JSON.parse(String((await stack.run(['env', 'users', '--json'])).stdout)) as { overrides: Record<string, string> };
    expect(json.overrides).toEqual({ LOG_LEVEL: '.msctl/env/users.env', GREETING: 'services/users/.env' });
    const viaExec = await exec(['users', '--', 'node', '-e', 'process.stdout.write(process.env.LOG_LEVEL)']);
    expect(String(viaExec.stdout)).toBe('debug');

    const before = (await stack.status()).targets.find((target) => target.name === 'users')!.pid!;
    expect((await environOf(before)).LOG_LEVEL).toBe('info');
    const restart = await stack.run(['restart', 'users']);
    expect(restart.exitCode, String(restart.stderr)).toBe(0);
    const after = (await stack.status()).targets.find((target) => target.name === 'users')!.pid!;
    expect(after).not.toBe(before);
    expect(await environOf(after)).toMatchObject({ LOG_LEVEL: 'debug', GREETING: 'hello there' });
    // msctl env follows the new process (a restart may move it to another port).
    const shown = JSON.parse(String((await stack.run(['env', 'users', '--json'])).stdout)) as { env: Record<string, string>; masked: string[] };
    const running = await environOf(after);
    for (const [key, value] of Object.entries(shown.env)) if (!shown.masked.includes(key)) expect(running[key], key).toBe(value);

    await writeFile(join(dir, '.msctl', 'env', 'users.env'), 'PORT=1\n');
    const reserved = await stack.run(['env', 'users']);
    expect(reserved.exitCode).toBe(2);
    expect(String(reserved.stderr)).toMatch(/sets PORT, which the runtime decides/);
    await rm(join(dir, '.msctl', 'env', 'users.env'));
    await rm(join(dir, 'services', 'users', '.env'));
  });
});
