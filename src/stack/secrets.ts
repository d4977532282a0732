import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmod, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MsctlError } from '../core/errors';
import { ensureStateDir } from './project';

/**
 * Secrets generated once per stack, kept in .msctl/secrets.json with mode 0600. Nothing is
 * hard-coded. Each one reaches only what uses it (see serviceEnvironment):
 * - `jwtSecret` signs end users' tokens: users (signs) and the gateway (verifies);
 * - `internalAuth` is the gateway's Ed25519 key for the assertions it sends upstream: the
 *   private half stays in the gateway, every other service gets the public half, so no service
 *   can speak for a user to another one;
 * - `otlpToken` is what services show msctl's trace receiver;
 * - `postgresPassword` is PostgreSQL's superuser, used by msctl alone;
 * - `roleSeed` derives each service's own database password (one role per service).
 */
export const stackSecretsSchema = z.object({
  jwtSecret: z.string().min(32),
  postgresPassword: z.string().min(16),
  internalAuth: z.object({ privateKey: z.string().includes('PRIVATE KEY'), publicKey: z.string().includes('PUBLIC KEY') }),
  otlpToken: z.string().min(32),
  roleSeed: z.string().min(32),
});

export type StackSecrets = z.infer<typeof stackSecretsSchema>;

const secretString = (bytes: number) => randomBytes(bytes).toString('base64url');

function internalKeyPair(): StackSecrets['internalAuth'] {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { format: 'pem', type: 'pkcs8' },
    publicKeyEncoding: { format: 'pem', type: 'spki' },
  });
  return { privateKey, publicKey };
}

/** Every secret a stack needs, generated afresh; only for keys the file does not hold yet. */
function generated(): StackSecrets {
  return {
    jwtSecret: secretString(48),
    postgresPassword: secretString(24),
    internalAuth: internalKeyPair(),
    otlpToken: secretString(32),
    roleSeed: secretString(32),
  };
}

/** The password of `service`'s own PostgreSQL role: derived, so a new service needs no new file. */
export function servicePassword(secrets: StackSecrets, service: string): string {
  return createHmac('sha256', secrets.roleSeed).update(`postgres-role:${service}`).digest('base64url');
}

const corrupt = (file: string, stateDir: string, cause?: unknown) =>
  new MsctlError(
    'STATE_CORRUPT',
    `${file} is not a valid secrets file`,
    `it holds this stack's database password: restore it, or remove it together with ${join(stateDir, 'data')} (msctl down -v) to start afresh`,
    cause === undefined ? undefined : { cause },
  );

async function readSecretsFile(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable is not absent: new secrets would not open a database made with the old ones.
    throw new MsctlError('STATE_UNREADABLE', `cannot read ${file}: ${(error as Error).message}`, 'fix its owner or mode (msctl keeps it 0600 for the user who runs it)', {
      cause: error,
    });
  }
}

/**
 * The stack's secrets. The file is created exclusively, so two msctl processes starting the same
 * stack agree on one set; a file from an older msctl gains the keys it lacks, and keeps the ones
 * it has (its database was initialised with them).
 */
export async function ensureSecrets(stateDir: string): Promise<StackSecrets> {
  const file = join(stateDir, 'secrets.json');
  ensureStateDir(stateDir);
  const text = await readSecretsFile(file);
  if (text === undefined) {
    const secrets = generated();
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(secrets, null, 2)}\n`);
      } finally {
        await handle.close();
      }
      return secrets;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return ensureSecrets(stateDir); // another msctl created it first: use theirs
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw corrupt(file, stateDir, error);
  }
  const known = z.object({ jwtSecret: z.string().min(32), postgresPassword: z.string().min(16) }).passthrough().safeParse(parsed);
  if (!known.success) throw corrupt(file, stateDir);
  const result = stackSecretsSchema.safeParse({ ...generated(), ...known.data });
  if (!result.success) throw corrupt(file, stateDir);
  await chmod(file, 0o600);
  if (stackSecretsSchema.safeParse(parsed).success) return result.data;
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(result.data, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
  return result.data;
}
