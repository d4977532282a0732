/**
 * The names `msctl export k8s` gives what it writes (namespaces, the Kafka and PostgreSQL
 * clusters, Secrets, images, topics), and the shape of an object: what k8s.ts and
 * network-policies.ts both name.
 */
import type { Project } from '../stack/project';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [key: string]: unknown }; [key: string]: unknown };

export type Profile = 'dev' | 'prod';

export const KAFKA_PORT = 9092;

/** A Kubernetes name (DNS-1123 label) from anything. */
export const k8sName = (value: string) =>
  value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 50) || 'msctl';

export interface K8sNames {
  project: string;
  namespace: Record<Profile, string>;
  kafka: string;
  kafkaBootstrap: (namespace?: string) => string;
  nodePool: string;
  postgres: string;
  postgresHost: string;
  /** The Secret the operator of the cluster creates with JWT_SECRET (not written by msctl). */
  secret: string;
  /** The Secret with the gateway's private internal-auth key (`private-key`; not written by msctl). */
  internalAuthSecret: string;
  /** The Secret with its public half (`public-key`), for every other service (not written by msctl). */
  internalAuthPublicSecret: string;
  /** A service's own database role (basic-auth: `username`, `password`; not written by msctl). */
  databaseSecret: (service: string) => string;
  configMap: (service: string) => string;
  image: (service: string) => string;
  topic: (topic: string) => string;
}

export function k8sNames(project: Project): K8sNames {
  const p = k8sName(project.name);
  return {
    project: p,
    namespace: { dev: `${p}-dev`, prod: p },
    kafka: p,
    kafkaBootstrap: (namespace) => `${p}-kafka-bootstrap${namespace ? `.${namespace}.svc` : ''}:${KAFKA_PORT}`,
    nodePool: 'dual-role',
    postgres: `${p}-postgres`,
    postgresHost: `${p}-postgres-rw`,
    secret: `${p}-secrets`,
    internalAuthSecret: `${p}-internal-auth`,
    internalAuthPublicSecret: `${p}-internal-auth-public`,
    databaseSecret: (service) => `${p}-db-${k8sName(service)}`,
    configMap: (service) => `${service}-config`,
    image: (service) => `msctl/${project.name}-${service}`,
    topic: (topic) => k8sName(topic.replaceAll('.', '-').replaceAll('_', '-')),
  };
}
