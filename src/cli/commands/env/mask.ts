/**
 * Which parts of a service's environment are secret, and how they are shown: every value that
 * comes from the stack's secrets (.msctl/secrets.json) is replaced by MASK wherever it appears
 * (the password inside DATABASE_URL, the token inside OTEL_EXPORTER_OTLP_HEADERS), and a key
 * named like a secret is masked whole even when an override set it to a value of its own. Pure.
 */
import { serviceRoles } from '../../../stack/database-roles';
import type { Project } from '../../../stack/project';
import { servicePassword, type StackSecrets } from '../../../stack/secrets';

export const MASK = '****';

const SECRET_NAME = /SECRET|PASSWORD|PRIVATE_KEY|TOKEN|INTERNAL_AUTH/;

/** Every secret value of the stack, as it may appear in an environment: raw and URL-encoded. */
export function secretValues(project: Project, secrets: StackSecrets): string[] {
  const values = [
    secrets.jwtSecret,
    secrets.postgresPassword,
    secrets.internalAuth.privateKey,
    secrets.internalAuth.publicKey,
    secrets.otlpToken,
    secrets.roleSeed,
    ...serviceRoles(project).map(({ service }) => servicePassword(secrets, service)),
  ];
  // Longest first: a secret that contains another is replaced whole.
  return [...new Set(values.flatMap((value) => [value, encodeURIComponent(value)]))].sort((a, b) => b.length - a.length);
}

function maskUrlPassword(value: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  try {
    const url = new URL(value);
    if (!url.password) return value;
    url.password = MASK;
    return url.href.replace(encodeURIComponent(MASK), MASK);
  } catch {
    return value;
  }
}

/** `env` with its secrets masked, and the keys that were. */
export function maskSecrets(env: Record<string, string>, secrets: readonly string[]): { env: Record<string, string>; masked: string[] } {
  const masked: string[] = [];
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    let shown = value;
    for (const secret of secrets) if (shown.includes(secret)) shown = shown.replaceAll(secret, MASK);
    shown = maskUrlPassword(shown);
    if (shown === value && SECRET_NAME.test(key) && value !== '') shown = MASK;
    if (shown !== value) masked.push(key);
    result[key] = shown;
  }
  return { env: result, masked };
}
