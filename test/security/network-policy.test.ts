/**
 * The NetworkPolicies of `msctl export k8s` isolate the stack, checked offline on the prod
 * overlay as `kubectl kustomize` renders it: a small evaluator of NetworkPolicy semantics
 * (selected pods are isolated in a direction; a connection needs the source's egress and the
 * destination's ingress to allow it) is asked about every pair of the stack's pods and ports.
 */
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sExport } from '../../src/export/k8s';
import type { K8sObject } from '../../src/export/k8s-names';
import { writeTree } from '../../src/export/write';
import { loadProject, type Project } from '../../src/stack/project';
import { manifestProject } from '../export/fixture';

// ---- the evaluator ----

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }>;
}
interface Peer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: { cidr: string; except?: string[] };
}
interface Port {
  port?: number | string;
  protocol?: string;
}
interface Rule {
  from?: Peer[];
  to?: Peer[];
  ports?: Port[];
}
interface Policy {
  metadata: { name: string; namespace: string };
  spec: { podSelector: Selector; policyTypes?: Array<'Ingress' | 'Egress'>; ingress?: Rule[]; egress?: Rule[] };
}
interface Pod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
}

function matches(selector: Selector, labels: Record<string, string>): boolean {
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const value = labels[expression.key];
    const ok = {
      In: value !== undefined && (expression.values ?? []).includes(value),
      NotIn: value === undefined || !(expression.values ?? []).includes(value),
      Exists: value !== undefined,
      DoesNotExist: value === undefined,
    }[expression.operator];
    if (!ok) return false;
  }
  return true;
}

/** A namespace's labels: the automatic name label is the only one a default cluster sets. */
const namespaceLabels = (namespace: string) => ({ 'kubernetes.io/metadata.name': namespace });

function peerMatches(peer: Peer, pod: Pod, policyNamespace: string): boolean {
  // ipBlock is meant for addresses outside the cluster, but pods may match it: count it as letting anyone through.
  if (peer.ipBlock) return true;
  if (peer.namespaceSelector) {
    if (!matches(peer.namespaceSelector, namespaceLabels(pod.namespace))) return false;
    return peer.podSelector ? matches(peer.podSelector, pod.labels) : true;
  }
  return pod.namespace === policyNamespace && matches(peer.podSelector ?? {}, pod.labels);
}

function portMatches(ports: Port[] | undefined, port: number, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  // Named ports would need the pod's container ports: the export uses numbers, and a name fails here.
  return ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port));
}

const typesOf = (policy: Policy) => policy.spec.policyTypes ?? (policy.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);

/** Whether `direction` lets `pod` talk to `peer` on the port: unisolated, or some rule of a policy selecting it. */
function allowedBy(policies: Policy[], direction: 'Ingress' | 'Egress', pod: Pod, peer: Pod, port: number, protocol: string): boolean {
  const selecting = policies.filter((policy) => policy.metadata.namespace === pod.namespace && typesOf(policy).includes(direction) && matches(policy.spec.podSelector, pod.labels));
  if (selecting.length === 0) return true;
  return selecting.some((policy) =>
    (direction === 'Ingress' ? policy.spec.ingress : policy.spec.egress)?.some((rule) => {
      const peers = direction === 'Ingress' ? rule.from : rule.to;
      return (!peers || peers.length === 0 || peers.some((candidate) => peerMatches(candidate, peer, policy.metadata.namespace))) && portMatches(rule.ports, port, protocol);
    }),
  );
}

function allowed(policies: Policy[], from: Pod, to: Pod, port: number, protocol = 'TCP'): boolean {
  return allowedBy(policies, 'Egress', from, to, port, protocol) && allowedBy(policies, 'Ingress', to, from, port, protocol);
}

// ---- the stack ----

let fixture: Awaited<ReturnType<typeof manifestProject>>;
let project: Project;
let out: string;
let policies: Policy[];
let rendered: K8sObject[];
let namespace: string;

beforeAll(async () => {
  fixture = await manifestProject();
  project = await loadProject(fixture.dir, {});
  out = await mkdtemp(join(tmpdir(), 'msctl-netpol-'));
  await writeTree(out, k8sExport(project).files);
  const result = await execa('kubectl', ['kustomize', join(out, 'overlays', 'prod')], { reject: false });
  if (result.exitCode !== 0) throw new Error(`kubectl kustomize failed (kubectl is needed for this test):\n${result.stderr}`);
  rendered = parseAllDocuments(String(result.stdout)).map((doc) => doc.toJS() as K8sObject);
  policies = rendered.filter((object) => object.kind === 'NetworkPolicy') as unknown as Policy[];
  namespace = project.name;
}, 60_000);

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
  await fixture?.remove();
});

/** The stack's pods with the labels their controllers give them (Deployments; Strimzi; CloudNativePG). */
function stackPods(): Pod[] {
  const pods: Pod[] = [];
  for (const deployment of rendered.filter((object) => object.kind === 'Deployment') as Array<K8sObject & { spec: { template: { metadata: { labels: Record<string, string> } } } }>) {
    pods.push({ name: deployment.metadata.name, namespace, labels: deployment.spec.template.metadata.labels });
  }
  const kafka = rendered.find((object) => object.kind === 'Kafka')!.metadata.name;
  const postgres = rendered.find((object) => object.kind === 'Cluster')!.metadata.name;
  pods.push(
    { name: 'kafka', namespace, labels: { 'strimzi.io/cluster': kafka, 'strimzi.io/kind': 'Kafka', 'strimzi.io/name': `${kafka}-kafka`, 'strimzi.io/pool-name': 'dual-role' } },
    { name: 'entity-operator', namespace, labels: { 'strimzi.io/cluster': kafka, 'strimzi.io/kind': 'Kafka', 'strimzi.io/name': `${kafka}-entity-operator` } },
    { name: 'postgres', namespace, labels: { 'cnpg.io/cluster': postgres, 'cnpg.io/podRole': 'instance', role: 'primary' } },
  );
  return pods;
}

const outside = {
  stranger: { name: 'stranger', namespace: 'elsewhere', labels: { app: 'stranger' } },
  sameNamespaceStranger: () => ({ name: 'debug', namespace, labels: { app: 'debug' } }),
  keda: { name: 'keda-operator', namespace: 'keda', labels: { app: 'keda-operator' } },
  prometheus: { name: 'prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } },
  dns: { name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
  collector: { name: 'otel-collector', namespace: 'observability', labels: { app: 'otel-collector' } },
};

/** What may reach `to` on its port, by the manifests: the reference the policies are held to. */
function expected(from: Pod, to: Pod): boolean {
  const source = project.manifests.find((m) => m.name === from.name);
  const needs = source?.needs ?? [];
  const target = project.manifests.find((m) => m.name === to.name);
  // The gateway is open to anyone whose own egress is not restricted: not the services', which go only where they need.
  if (target) return (target.gateway === true && !source) || needs.includes(target.name);
  if (to.name === 'kafka') return needs.includes('kafka');
  if (to.name === 'postgres') return needs.includes('postgres') || from.name === 'postgres';
  return false;
}

const portOf = (pod: Pod) => project.manifests.find((m) => m.name === pod.name)?.port ?? { kafka: 9092, postgres: 5432 }[pod.name];

describe('msctl export k8s: NetworkPolicies', () => {
  it('between the stack\'s pods, allow exactly what the manifests need: upstreams from the gateway, Kafka and PostgreSQL from the services that use them', () => {
    const pods = stackPods();
    const targets = pods.filter((pod) => portOf(pod) !== undefined);
    const wrong: string[] = [];
    for (const from of pods) {
      for (const to of targets) {
        if (from === to) continue;
        const got = allowed(policies, from, to, portOf(to)!);
        if (got !== expected(from, to)) wrong.push(`${from.name} → ${to.name}:${portOf(to)} ${got ? 'allowed' : 'denied'}`);
      }
    }
    expect(wrong).toEqual([]);
    // The claims in words, so that a change in the reference above cannot hide them.
    const pod = (name: string) => pods.find((p) => p.name === name)!;
    expect(pods.filter((from) => from !== pod('users') && allowed(policies, from, pod('users'), 4001)).map((p) => p.name)).toEqual(['gateway']);
    expect(pods.filter((from) => allowed(policies, from, pod('kafka'), 9092)).map((p) => p.name).sort()).toEqual(['analytics', 'data-processing', 'notifications', 'users']);
    expect(pods.filter((from) => from !== pod('postgres') && allowed(policies, from, pod('postgres'), 5432)).map((p) => p.name).sort()).toEqual(['analytics', 'notifications', 'users']);
  });

  it('from outside the stack: only the gateway answers; upstreams answer only Prometheus, Kafka only KEDA besides the services', () => {
    const pods = stackPods();
    const pod = (name: string) => pods.find((p) => p.name === name)!;
    expect(allowed(policies, outside.stranger, pod('gateway'), 4000)).toBe(true);
    // A pod someone starts in the stack's namespace is denied by default, going out too.
    expect(allowed(policies, outside.sameNamespaceStranger(), pod('gateway'), 4000)).toBe(false);
    for (const stranger of [outside.stranger, outside.sameNamespaceStranger()]) {
      for (const target of pods.filter((p) => p.name !== 'gateway' && portOf(p) !== undefined)) expect(allowed(policies, stranger, target, portOf(target)!), `${stranger.namespace} → ${target.name}`).toBe(false);
    }
    // Only the port the service listens on, not any other.
    expect(allowed(policies, pod('gateway'), pod('users'), 5432)).toBe(false);
    expect(allowed(policies, outside.stranger, pod('gateway'), 22)).toBe(false);
    expect(allowed(policies, outside.prometheus, pod('users'), 4001)).toBe(true);
    expect(allowed(policies, outside.prometheus, pod('kafka'), 9092)).toBe(false);
    expect(allowed(policies, outside.keda, pod('kafka'), 9092)).toBe(true);
    expect(allowed(policies, outside.keda, pod('users'), 4001)).toBe(false);
    expect(allowed(policies, outside.keda, pod('postgres'), 5432)).toBe(false);
  });

  it('lets every service resolve names and send spans to the collector, and nowhere else', () => {
    for (const service of stackPods().filter((pod) => project.manifests.some((m) => m.name === pod.name))) {
      expect(allowed(policies, service, outside.dns, 53, 'UDP'), service.name).toBe(true);
      expect(allowed(policies, service, outside.dns, 53, 'TCP'), service.name).toBe(true);
      expect(allowed(policies, service, outside.collector, 4318), service.name).toBe(true);
      expect(allowed(policies, service, outside.collector, 4317), service.name).toBe(false);
      expect(allowed(policies, service, outside.stranger, 443), service.name).toBe(false);
    }
  });

  it('Strimzi\'s own listener policy is no wider than msctl\'s: the client listener names the same peers', () => {
    const kafka = rendered.find((object) => object.kind === 'Kafka') as K8sObject & { spec: { kafka: { listeners: Array<{ port: number; networkPolicyPeers?: Peer[] }> } } };
    const clients = policies.find((policy) => policy.spec.ingress?.some((rule) => rule.ports?.some((port) => port.port === 9092)))!;
    for (const listener of kafka.spec.kafka.listeners) expect(listener.networkPolicyPeers).toEqual(clients.spec.ingress![0]!.from);
  });

  it('the evaluator catches a hole: a policy that lets every pod of the namespace reach users is seen', () => {
    const pods = stackPods();
    const users = pods.find((p) => p.name === 'users')!;
    const analytics = pods.find((p) => p.name === 'analytics')!;
    expect(allowed(policies, analytics, users, 4001)).toBe(false);
    const hole: Policy = { metadata: { name: 'hole', namespace }, spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: {} }] }], egress: [{}] } };
    expect(allowed([...policies, hole], analytics, users, 4001)).toBe(true);
    // And without any policy nothing is isolated.
    expect(allowed([], analytics, users, 4001)).toBe(true);
  });
});
