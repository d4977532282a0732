/**
 * Where the stack's Kafka and PostgreSQL answer from this machine, whichever runtime runs them:
 * 127.0.0.1 and the project's ports (the docker runtime publishes its containers' there too).
 */
import type { Project } from './project';
import type { StackSecrets } from './secrets';

export const kafkaBootstrap = (project: Project) => `127.0.0.1:${project.infrastructure.kafkaPort}`;

/** PostgreSQL as its superuser, for msctl's own work (roles, psql); a service gets its own role (database-roles.ts). */
export const superuserUrl = (project: Project, secrets: StackSecrets) =>
  `postgres://${project.infrastructure.postgresUser}:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:${project.infrastructure.postgresPort}/postgres`;
