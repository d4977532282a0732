import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MsctlError } from '../core/errors';

/** Secrets generated once per stack, kept in .msctl/secrets.json with mode 0600. Nothing is hard-coded. */
export const stackSecretsSchema = z.object({
  jwtSecret: z.string().min(32),
  postgresPassword: z.string().min(16),
});

export type StackSecrets = z.infer<typeof stackSecretsSchema>;

export async function ensureSecrets(stateDir: string): Promise<StackSecrets> {
  const file = join(stateDir, 'secrets.json');
  let text: string | undefined;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const result = stackSecretsSchema.safeParse(parsed);
    if (!result.success) {
      throw new MsctlError(
        'STATE_CORRUPT',
        `${file} is not a valid secrets file`,
        `it holds this stack's database password: restore it, or remove it together with ${join(stateDir, 'data')} (msctl down -v) to start afresh`,
      );
    }
    await chmod(file, 0o600);
    return result.data;
  }
  const secrets: StackSecrets = {
    jwtSecret: randomBytes(48).toString('base64url'),
    postgresPassword: randomBytes(24).toString('base64url'),
  };
  await mkdir(stateDir, { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
  return secrets;
}
