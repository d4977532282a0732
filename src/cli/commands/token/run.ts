/**
 * `msctl token [username]`: a development end user's token, through the gateway (dev-user.ts).
 * `msctl token --client <name> [--scope events:ingest] [--ttl 1h]`: a bearer token for a service
 * client (a job, a producer in another system), signed with the stack's own secret as users signs
 * end users' tokens. Scopes are what end users never get: `events:ingest` posts events for any
 * subject. The token has no credentials version, so it lives until it expires: keep the TTL short.
 * `--export` prints either as `export TOKEN='…'` for `eval $(msctl token --export)`.
 */
import { INGEST_SCOPE, signAccessToken } from '../../../../services/kit/src/auth';
import { MsctlError } from '../../../core/errors';
import { loadProject, type Project } from '../../../stack/project';
import { ensureSecrets } from '../../../stack/secrets';
import type { CliContext } from '../../context';
import type { TokenOptions } from './command';
import { parseDuration } from '../../../core/duration';
import { devPassword, devUserToken, gatewayPoster, USERNAME } from './dev-user';

export const CLIENT_SCOPES = [INGEST_SCOPE] as const;
const MAX_TTL_SECONDS = 24 * 3600;
export const DEFAULT_USERNAME = 'dev';

async function clientToken(options: TokenOptions & { client: string }, project: Project) {
  if (!/^[a-z][a-z0-9._-]{0,63}$/.test(options.client)) {
    throw new MsctlError('USAGE', `--client ${options.client}: not a client name`, 'use lowercase letters, digits, ".", "_" or "-", e.g. --client billing-importer');
  }
  for (const scope of options.scopes) {
    if (!(CLIENT_SCOPES as readonly string[]).includes(scope)) {
      throw new MsctlError('USAGE', `--scope ${scope}: no such scope`, `the scopes are: ${CLIENT_SCOPES.join(', ')}`);
    }
  }
  const ttl = options.ttl ?? '1h';
  const ttlSeconds = Math.round(parseDuration(ttl, '--ttl') / 1000);
  if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) throw new MsctlError('USAGE', `--ttl ${ttl}: between 1s and 24h`);
  const secrets = await ensureSecrets(project.stateDir);
  // "client:" keeps a service client's subject apart from every user id (a UUID).
  const subject = `client:${options.client}`;
  const scope = options.scopes.join(' ');
  const accessToken = await signAccessToken({ sub: subject, username: subject, ...(scope ? { scope } : {}) }, secrets.jwtSecret, ttlSeconds);
  return { accessToken, tokenType: 'Bearer', expiresIn: ttlSeconds, subject, scope };
}

async function userToken(username: string, project: Project, signal: AbortSignal) {
  if (!USERNAME.test(username)) throw new MsctlError('USAGE', `${username}: not a username`, 'use 3 to 32 lowercase letters, digits, "_", "." or "-", e.g. msctl token dev');
  const gateway = project.manifests.find((manifest) => manifest.gateway);
  if (!gateway) throw new MsctlError('USAGE', 'this project has no gateway service (a manifest with "gateway": true)', 'use msctl token --client <name> for a token signed here');
  const secrets = await ensureSecrets(project.stateDir);
  // Both runtimes publish the gateway's port on 127.0.0.1.
  return devUserToken(gatewayPoster(`http://127.0.0.1:${gateway.port}`, signal), username, devPassword(secrets, username));
}

export async function run(options: TokenOptions, context: CliContext): Promise<number | void> {
  if (options.client !== undefined && options.username !== undefined) {
    throw new MsctlError('USAGE', `a token is for a user (${options.username}) or a client (--client ${options.client}), not both`, 'drop one of them');
  }
  if (options.client === undefined && (options.scopes.length > 0 || options.ttl !== undefined)) {
    throw new MsctlError('USAGE', '--scope and --ttl are for service clients', 'add --client <name>; an end user gets what the users service issues');
  }
  const project = await loadProject(context.projectDir);
  const token =
    options.client !== undefined ? await clientToken({ ...options, client: options.client }, project) : await userToken(options.username ?? DEFAULT_USERNAME, project, context.signal);
  // A JWT is base64url and dots: nothing in it needs quoting, the quotes are for the reader.
  if (options.export) context.stdout.write(`export TOKEN='${token.accessToken}'\n`);
  else if (context.json) context.stdout.write(`${JSON.stringify(token)}\n`);
  else context.stdout.write(`${token.accessToken}\n`);
}
