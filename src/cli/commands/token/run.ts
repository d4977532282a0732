/**
 * `msctl token --client <name> [--scope events:ingest] [--ttl 1h]`: a bearer token for a service
 * client (a job, a producer in another system), signed with the stack's own secret as users signs
 * end users' tokens. Scopes are what end users never get: `events:ingest` posts events for any
 * subject. The token has no credentials version, so it lives until it expires: keep the TTL short.
 */
import { INGEST_SCOPE, signAccessToken } from '../../../../services/kit/src/auth';
import { MsctlError } from '../../../core/errors';
import { loadProject } from '../../../stack/project';
import { ensureSecrets } from '../../../stack/secrets';
import type { CliContext } from '../../context';
import type { TokenOptions } from './command';
import { parseDuration } from '../../../core/duration';

export const CLIENT_SCOPES = [INGEST_SCOPE] as const;
const MAX_TTL_SECONDS = 24 * 3600;

export async function run(options: TokenOptions, context: CliContext): Promise<number | void> {
  if (!/^[a-z][a-z0-9._-]{0,63}$/.test(options.client)) {
    throw new MsctlError('USAGE', `--client ${options.client}: not a client name`, 'use lowercase letters, digits, ".", "_" or "-", e.g. --client billing-importer');
  }
  for (const scope of options.scopes) {
    if (!(CLIENT_SCOPES as readonly string[]).includes(scope)) {
      throw new MsctlError('USAGE', `--scope ${scope}: no such scope`, `the scopes are: ${CLIENT_SCOPES.join(', ')}`);
    }
  }
  const ttlSeconds = Math.round(parseDuration(options.ttl, '--ttl') / 1000);
  if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) throw new MsctlError('USAGE', `--ttl ${options.ttl}: between 1s and 24h`);
  const project = await loadProject(context.projectDir);
  const secrets = await ensureSecrets(project.stateDir);
  // "client:" keeps a service client's subject apart from every user id (a UUID).
  const subject = `client:${options.client}`;
  const scope = options.scopes.join(' ');
  const accessToken = await signAccessToken({ sub: subject, username: subject, ...(scope ? { scope } : {}) }, secrets.jwtSecret, ttlSeconds);
  if (context.json) context.stdout.write(`${JSON.stringify({ accessToken, tokenType: 'Bearer', expiresIn: ttlSeconds, subject, scope })}\n`);
  else context.stdout.write(`${accessToken}\n`);
}
