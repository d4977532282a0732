/** A project folder with this repository's service manifests and known secrets, for the exporters. */
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StackSecrets } from '../../src/stack/secrets';
import { repoRoot } from '../support/cli';

const internalAuth = generateKeyPairSync('ed25519', { privateKeyEncoding: { format: 'pem', type: 'pkcs8' }, publicKeyEncoding: { format: 'pem', type: 'spki' } });

export const KNOWN_SECRETS: StackSecrets = {
  jwtSecret: 'jwt-known-secret-value-0123456789abcdefghijklmnop',
  postgresPassword: 'pg-known-password-0123456789',
  internalAuth: { privateKey: internalAuth.privateKey, publicKey: internalAuth.publicKey },
  otlpToken: 'otlp-known-token-0123456789abcdefghijklmnop',
  roleSeed: 'role-known-seed-0123456789abcdefghijklmnopq',
};

export async function manifestProject(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'msctl-export-'));
  for (const name of await readdir(join(repoRoot, 'services'))) {
    const manifest = join(repoRoot, 'services', name, 'service.json');
    if (!existsSync(manifest)) continue;
    await mkdir(join(dir, 'services', name), { recursive: true });
    await cp(manifest, join(dir, 'services', name, 'service.json'));
  }
  await mkdir(join(dir, '.msctl'), { recursive: true });
  await writeFile(join(dir, '.msctl', 'secrets.json'), JSON.stringify(KNOWN_SECRETS), { mode: 0o600 });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
