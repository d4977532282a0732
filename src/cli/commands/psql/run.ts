/**
 * `msctl psql [service]`: the system's psql on the stack's PostgreSQL. Both runtimes listen on
 * 127.0.0.1 at the stack's PostgreSQL port (docker publishes its container's there). With a
 * service, as the service's own role (the one its DATABASE_URL names), its schema first on the
 * search_path; without, as the superuser. The password goes to psql in PGPASSWORD, never on its
 * command line, where `ps` would show it.
 */
import { MsctlError } from '../../../core/errors';
import { isPortFree } from '../../../infra/ports';
import { superuserUrl } from '../../../stack/endpoints';
import { runAttached } from '../../../runtime/processes';
import { serviceDatabaseUrl, serviceRoles } from '../../../stack/database-roles';
import { loadProject } from '../../../stack/project';
import { ensureSecrets } from '../../../stack/secrets';
import { schemaFor, serviceOfTarget } from '../../../stack/service-env';
import type { CliContext } from '../../context';
import type { PsqlOptions } from './command';

const INSTALL_HINT = 'install the PostgreSQL client: apt-get install postgresql-client (Debian, Ubuntu), dnf install postgresql (Fedora), brew install libpq (macOS)';

/** psql's arguments and environment for a connection URL (pure). */
export function psqlInvocation(url: URL, schema: string | undefined, command: string | undefined): { args: string[]; env: Record<string, string> } {
  const args = ['--host', url.hostname, '--port', url.port, '--username', decodeURIComponent(url.username), '--dbname', url.pathname.slice(1) || 'postgres'];
  if (command !== undefined) args.push('--command', command);
  const env: Record<string, string> = { PGPASSWORD: decodeURIComponent(url.password), PGAPPNAME: 'msctl psql' };
  if (schema) env.PGOPTIONS = `-c search_path=${schema}`;
  return { args, env };
}

export async function run(options: PsqlOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  let service: string | undefined;
  if (options.service !== undefined) {
    service = serviceOfTarget(project, options.service).name;
    if (!serviceRoles(project).some((role) => role.service === service)) {
      const users = serviceRoles(project).map((role) => role.service).join(', ');
      throw new MsctlError('USAGE', `${service} does not use PostgreSQL, so it has no role`, `the services with a role are: ${users}; or run msctl psql without one, as the superuser`);
    }
  }
  const port = project.infrastructure.postgresPort;
  if (await isPortFree(port)) throw new MsctlError('NOT_RUNNING', `PostgreSQL is not running (nothing listens on 127.0.0.1:${port})`, 'start the stack with `msctl up -d`');
  const secrets = await ensureSecrets(project.stateDir);
  const superuser = superuserUrl(project, secrets);
  const url = new URL(service === undefined ? superuser : serviceDatabaseUrl(superuser, service, secrets));
  const { args, env } = psqlInvocation(url, service === undefined ? undefined : schemaFor(service), options.command);
  return runAttached('psql', args, { env: { ...process.env, ...env }, notFound: () => new MsctlError('TOOL_MISSING', 'psql is not installed (msctl psql runs the system\'s psql)', INSTALL_HINT) });
}
