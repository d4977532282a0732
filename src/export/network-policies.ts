/**
 * The NetworkPolicies of `msctl export k8s`. Everything in the stack's namespace is denied by
 * default, in and out; then exactly the paths the service manifests describe are opened:
 *
 * - the gateway's port, from anywhere: it is the public door and authenticates end users;
 * - a service's port, from the services that `need` it (the gateway, for the upstreams), and from
 *   the monitoring namespace for the PodMonitor's scrapes;
 * - Kafka's client listener, from the services that need Kafka and KEDA (it reads consumer lag);
 * - PostgreSQL, from the services that need it, its own instances (replication) and the
 *   CloudNativePG operator (the instance manager's port);
 * - DNS, and spans to the OpenTelemetry Collector.
 *
 * The operators' pods (Kafka brokers, the entity operator, PostgreSQL instances) keep their own
 * egress: they talk to the API server and to each other in ways their operators own. Strimzi
 * writes ingress policies of its own for the brokers; the client listener's `networkPolicyPeers`
 * (kafkaClientPeers, set in k8s.ts) keeps the one it writes for that listener as narrow as this.
 * Pure.
 */
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';
import type { Project } from '../stack/project';
import { KAFKA_PORT, type K8sNames, type K8sObject } from './k8s-names';
import { observabilityEnvironment } from './observability';

export const POSTGRES_PORT = 5432;
/** CloudNativePG's instance manager: the operator and the other instances call it. */
export const CNPG_INSTANCE_MANAGER_PORT = 8000;
/** The namespaces the operators and tools outside the stack run in, as their default installs name them. */
export const NAMESPACES = { keda: 'keda', cnpg: 'cnpg-system', monitoring: 'monitoring', dns: 'kube-system' } as const;

const namespaceNamed = (name: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': name } });
const tcp = (port: number): INetworkPolicyPort => ({ protocol: 'TCP', port });

/** The labels the Deployments give a service's pods (and select them by). */
export const serviceSelector = (names: K8sNames, service: string) => ({ matchLabels: { 'app.kubernetes.io/part-of': names.project, 'app.kubernetes.io/name': service } });
/** Strimzi's labels on the broker pods of the cluster (node pools keep `<cluster>-kafka` as the name). */
export const kafkaBrokerSelector = (names: K8sNames) => ({ matchLabels: { 'strimzi.io/cluster': names.kafka, 'strimzi.io/kind': 'Kafka', 'strimzi.io/name': `${names.kafka}-kafka` } });
/** CloudNativePG's label on every instance of the cluster. */
export const postgresSelector = (names: K8sNames) => ({ matchLabels: { 'cnpg.io/cluster': names.postgres } });

/** The stack's services that need `dependency` (a service, `kafka` or `postgres`). */
const needing = (project: Project, dependency: string) => project.manifests.filter((manifest) => manifest.needs.includes(dependency)).map((manifest) => manifest.name);

/** Peers that are pods of some of the stack's services; none when the list is empty (not "everyone"). */
function servicePeers(names: K8sNames, services: string[]): INetworkPolicyPeer[] {
  if (services.length === 0) return [];
  return [{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': names.project }, matchExpressions: [{ key: 'app.kubernetes.io/name', operator: 'In', values: [...services].sort() }] } }];
}

/** Who may open Kafka's client listener: also the `networkPolicyPeers` of that listener, so that Strimzi's own policy is no wider. */
export function kafkaClientPeers(project: Project, names: K8sNames): INetworkPolicyPeer[] {
  return [...servicePeers(names, needing(project, 'kafka')), { namespaceSelector: namespaceNamed(NAMESPACES.keda) }];
}

/**
 * Where spans go: a `<service>.<namespace>.svc` address is that namespace on its port; any other
 * address is outside the cluster, reached on its port only.
 */
export function otlpPeer(endpoint: string): { peer: INetworkPolicyPeer; port: number } {
  const url = new URL(endpoint);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const inCluster = /^[a-z0-9-]+\.([a-z0-9-]+)\.svc(\.cluster\.local)?$/.exec(url.hostname);
  return inCluster ? { peer: { namespaceSelector: namespaceNamed(inCluster[1]!) }, port } : { peer: { ipBlock: { cidr: '0.0.0.0/0' } }, port };
}

function policy(names: K8sNames, name: string, spec: NonNullable<INetworkPolicy['spec']>): K8sObject {
  const object: INetworkPolicy & K8sObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': names.project } },
    spec,
  };
  return object;
}

export function networkPolicies(project: Project, names: K8sNames): K8sObject[] {
  const p = names.project;
  const otlpEndpoint = observabilityEnvironment().OTEL_EXPORTER_OTLP_ENDPOINT;
  const otlp = otlpEndpoint ? otlpPeer(otlpEndpoint) : undefined;
  const policies: K8sObject[] = [
    policy(names, `${p}-default-deny`, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy(names, `${p}-dns`, {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: namespaceNamed(NAMESPACES.dns), podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    }),
  ];
  for (const manifest of project.manifests) {
    const port = [tcp(manifest.port)];
    const callers = needing(project, manifest.name);
    policies.push(
      policy(names, `${manifest.name}-ingress`, {
        podSelector: serviceSelector(names, manifest.name),
        policyTypes: ['Ingress'],
        ingress: manifest.gateway
          ? [{ ports: port }]
          : [
              ...(callers.length > 0 ? [{ from: servicePeers(names, callers), ports: port }] : []),
              // /metrics is on the service's one port; without an internal-auth assertion the API refuses.
              { from: [{ namespaceSelector: namespaceNamed(NAMESPACES.monitoring) }], ports: port },
            ],
      }),
    );
    const upstreams = project.manifests.filter((other) => manifest.needs.includes(other.name));
    policies.push(
      policy(names, `${manifest.name}-egress`, {
        podSelector: serviceSelector(names, manifest.name),
        policyTypes: ['Egress'],
        egress: [
          ...upstreams.map((upstream) => ({ to: [{ podSelector: serviceSelector(names, upstream.name) }], ports: [tcp(upstream.port)] })),
          ...(manifest.needs.includes('kafka') ? [{ to: [{ podSelector: kafkaBrokerSelector(names) }], ports: [tcp(KAFKA_PORT)] }] : []),
          ...(manifest.needs.includes('postgres') ? [{ to: [{ podSelector: postgresSelector(names) }], ports: [tcp(POSTGRES_PORT)] }] : []),
          ...(otlp ? [{ to: [otlp.peer], ports: [tcp(otlp.port)] }] : []),
        ],
      }),
    );
  }
  policies.push(
    policy(names, `${p}-kafka-clients`, {
      podSelector: kafkaBrokerSelector(names),
      policyTypes: ['Ingress'],
      ingress: [{ from: kafkaClientPeers(project, names), ports: [tcp(KAFKA_PORT)] }],
    }),
    policy(names, `${p}-postgres-clients`, {
      podSelector: postgresSelector(names),
      policyTypes: ['Ingress'],
      ingress: [
        ...(needing(project, 'postgres').length > 0 ? [{ from: servicePeers(names, needing(project, 'postgres')), ports: [tcp(POSTGRES_PORT)] }] : []),
        { from: [{ podSelector: postgresSelector(names) }], ports: [tcp(POSTGRES_PORT), tcp(CNPG_INSTANCE_MANAGER_PORT)] },
        { from: [{ namespaceSelector: namespaceNamed(NAMESPACES.cnpg) }], ports: [tcp(CNPG_INSTANCE_MANAGER_PORT)] },
      ],
    }),
    // The operators' pods reach the API server and each other; their operators own that traffic.
    policy(names, `${p}-kafka-egress`, { podSelector: { matchLabels: { 'strimzi.io/cluster': names.kafka } }, policyTypes: ['Egress'], egress: [{}] }),
    policy(names, `${p}-postgres-egress`, { podSelector: postgresSelector(names), policyTypes: ['Egress'], egress: [{}] }),
  );
  return policies;
}
