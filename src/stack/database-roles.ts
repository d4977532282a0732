/**
 * Which PostgreSQL role each service of a stack connects as, and with what password: one role
 * per service that needs PostgreSQL, named like its schema (provisioned by
 * src/infra/postgres/roles.ts). Both runtimes build DATABASE_URL from here.
 */
import { provisionDatabaseRoles, type DatabaseRole } from '../infra/postgres/roles';
import type { Project } from './project';
import { servicePassword, type StackSecrets } from './secrets';
import { schemaFor } from './service-env';

/** The services that connect to PostgreSQL, each with the role named after its schema. */
export function serviceRoles(project: Project): Array<{ service: string; role: string }> {
  return project.manifests.filter((manifest) => manifest.needs.includes('postgres')).map((manifest) => ({ service: manifest.name, role: schemaFor(manifest.name) }));
}

export function databaseRoles(project: Project, secrets: StackSecrets): DatabaseRole[] {
  return serviceRoles(project).map(({ service, role }) => ({ name: role, password: servicePassword(secrets, service) }));
}

/** `service`'s DATABASE_URL: the server `superuserUrl` names, reached as the service's own role. */
export function serviceDatabaseUrl(superuserUrl: string, service: string, secrets: StackSecrets): string {
  const url = new URL(superuserUrl);
  url.username = schemaFor(service);
  url.password = servicePassword(secrets, service);
  return url.href;
}

/** Provisions every service's role of the project on the server `superuserUrl` names. */
export function provisionStackRoles(project: Project, secrets: StackSecrets, superuserUrl: string): Promise<void> {
  return provisionDatabaseRoles(superuserUrl, databaseRoles(project, secrets));
}
