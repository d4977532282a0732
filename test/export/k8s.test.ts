/**
 * `msctl export k8s`, validated offline: the generated base and both overlays as `kubectl
 * kustomize` renders them; every core object against the Kubernetes OpenAPI schema of its kind
 * (kubernetes-models), KEDA's ScaledObject against its published CRD schema
 * (@kubernetes-models/keda), Strimzi and CloudNativePG objects against strict schemas of the
 * fields msctl emits; then what the deployment must guarantee: probes, resources, non-root,
 * zero-downtime rollouts, no secret values, per-overlay sizes.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sExport, TERMINATION_GRACE_SECONDS } from '../../src/export/k8s';
import type { K8sObject } from '../../src/export/k8s-names';
import { writeTree } from '../../src/export/write';
import { loadProject, type Project } from '../../src/stack/project';
import { msctl } from '../support/cli';
import { KNOWN_SECRETS, manifestProject } from './fixture';

// ---- schemas ----

const models: Record<string, { validate(): void } & (new (data: never) => { validate(): void })> = {
  'v1/ConfigMap': ConfigMap as never,
  'v1/Service': Service as never,
  'v1/Namespace': Namespace as never,
  'apps/v1/Deployment': Deployment as never,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as never,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler as never,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject as never,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy as never,
};

const metadata = z.strictObject({
  name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/),
  namespace: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
const quantity = z.string().regex(/^\d+(\.\d+)?(m|Mi|Gi|Ki)?$/);
const resources = z.strictObject({ requests: z.strictObject({ memory: quantity, cpu: quantity }), limits: z.strictObject({ memory: quantity, cpu: quantity }) });
const kafkaConfig = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));
const labelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z.array(z.strictObject({ key: z.string(), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).optional() })).optional(),
});
/** Strimzi's listener `networkPolicyPeers`: NetworkPolicyPeer objects. */
const networkPolicyPeer = z.strictObject({ podSelector: labelSelector.optional(), namespaceSelector: labelSelector.optional() });
/** CloudNativePG's RoleConfiguration (spec.managed.roles[]). */
const managedRole = z.strictObject({
  name: z.string().regex(/^[a-z_][a-z0-9_]*$/),
  ensure: z.enum(['present', 'absent']),
  comment: z.string(),
  login: z.boolean(),
  superuser: z.boolean(),
  createdb: z.boolean(),
  createrole: z.boolean(),
  inherit: z.boolean(),
  replication: z.boolean(),
  bypassrls: z.boolean(),
  connectionLimit: z.number().int(),
  passwordSecret: z.strictObject({ name: z.string() }),
});

/** Strimzi (kafka.strimzi.io/v1beta2) and CloudNativePG (postgresql.cnpg.io/v1): the fields msctl emits, strictly. */
const crdSchemas: Record<string, z.ZodType> = {
  'kafka.strimzi.io/v1beta2/Kafka': z.strictObject({
    apiVersion: z.literal('kafka.strimzi.io/v1beta2'),
    kind: z.literal('Kafka'),
    metadata: metadata.extend({ annotations: z.strictObject({ 'strimzi.io/node-pools': z.literal('enabled'), 'strimzi.io/kraft': z.literal('enabled') }) }),
    spec: z.strictObject({
      kafka: z.strictObject({
        listeners: z
          .array(
            z.strictObject({
              name: z.string().regex(/^[a-z0-9]{1,11}$/),
              port: z.number().int().min(9092),
              type: z.enum(['internal', 'route', 'loadbalancer', 'nodeport', 'ingress', 'cluster-ip']),
              tls: z.boolean(),
              networkPolicyPeers: z.array(networkPolicyPeer).min(1),
            }),
          )
          .min(1),
        config: kafkaConfig,
      }),
      entityOperator: z.strictObject({ topicOperator: z.strictObject({}), userOperator: z.strictObject({}) }),
    }),
  }),
  'kafka.strimzi.io/v1beta2/KafkaNodePool': z.strictObject({
    apiVersion: z.literal('kafka.strimzi.io/v1beta2'),
    kind: z.literal('KafkaNodePool'),
    metadata: metadata.extend({ labels: z.looseObject({ 'strimzi.io/cluster': z.string() }) }),
    spec: z.strictObject({
      replicas: z.number().int().min(1),
      roles: z.array(z.enum(['controller', 'broker'])).min(1),
      storage: z.strictObject({
        type: z.literal('jbod'),
        volumes: z.array(z.strictObject({ id: z.number().int(), type: z.literal('persistent-claim'), size: quantity, deleteClaim: z.boolean(), kraftMetadata: z.literal('shared') })).min(1),
      }),
      resources,
    }),
  }),
  'kafka.strimzi.io/v1beta2/KafkaTopic': z.strictObject({
    apiVersion: z.literal('kafka.strimzi.io/v1beta2'),
    kind: z.literal('KafkaTopic'),
    metadata: metadata.extend({ labels: z.looseObject({ 'strimzi.io/cluster': z.string() }) }),
    spec: z.strictObject({ topicName: z.string(), partitions: z.number().int().min(1), replicas: z.number().int().min(1).max(32767), config: kafkaConfig }),
  }),
  'monitoring.coreos.com/v1/PodMonitor': z.strictObject({
    apiVersion: z.literal('monitoring.coreos.com/v1'),
    kind: z.literal('PodMonitor'),
    metadata,
    spec: z.strictObject({
      selector: z.strictObject({ matchLabels: z.record(z.string(), z.string()) }),
      podMetricsEndpoints: z.array(z.strictObject({ port: z.string(), path: z.string(), interval: z.string(), scrapeTimeout: z.string() })).min(1),
    }),
  }),
  'postgresql.cnpg.io/v1/Cluster': z.strictObject({
    apiVersion: z.literal('postgresql.cnpg.io/v1'),
    kind: z.literal('Cluster'),
    metadata,
    spec: z.strictObject({
      instances: z.number().int().min(1),
      imageName: z.string(),
      primaryUpdateStrategy: z.enum(['unsupervised', 'supervised']),
      bootstrap: z.strictObject({ initdb: z.strictObject({ database: z.string(), owner: z.string(), postInitApplicationSQL: z.array(z.string()) }) }),
      managed: z.strictObject({ roles: z.array(managedRole) }),
      storage: z.strictObject({ size: quantity }),
      resources,
    }),
  }),
};

function validate(object: K8sObject): void {
  const key = `${object.apiVersion}/${object.kind}`;
  const Model = models[key];
  if (Model) {
    new Model(object as never).validate();
    return;
  }
  const schema = crdSchemas[key];
  if (!schema) throw new Error(`no schema for ${key}: every kind msctl emits must be validated`);
  const result = schema.safeParse(object);
  if (!result.success) throw new Error(`${key} ${object.metadata.name}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
}

// ---- fixture ----

let fixture: Awaited<ReturnType<typeof manifestProject>>;
let project: Project;
let out: string;
let exported: ReturnType<typeof k8sExport>;
const rendered: Record<'dev' | 'prod', K8sObject[]> = { dev: [], prod: [] };

async function kustomize(dir: string): Promise<K8sObject[]> {
  const result = await execa('kubectl', ['kustomize', dir], { reject: false });
  if (result.exitCode !== 0) throw new Error(`kubectl kustomize ${dir} failed (kubectl is needed for this test: it renders the overlays):\n${result.stderr}`);
  return parseAllDocuments(String(result.stdout)).map((doc) => doc.toJS() as K8sObject);
}

beforeAll(async () => {
  fixture = await manifestProject();
  project = await loadProject(fixture.dir, {});
  exported = k8sExport(project);
  out = await mkdtemp(join(tmpdir(), 'msctl-k8s-'));
  await writeTree(out, exported.files);
  rendered.dev = await kustomize(join(out, 'overlays', 'dev'));
  rendered.prod = await kustomize(join(out, 'overlays', 'prod'));
}, 60_000);

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
  await fixture?.remove();
});

const ofKind = (objects: K8sObject[], kind: string) => objects.filter((object) => object.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary spec fields of objects validated above
  return found as K8sObject & { spec: Record<string, any> };
};
const services = ['analytics', 'data-processing', 'gateway', 'notifications', 'users'];
const consumers = ['analytics', 'data-processing', 'notifications'];

describe('msctl export k8s', () => {
  it('validates every object of the base and of both rendered overlays against its schema', () => {
    for (const objects of [exported.base, rendered.dev, rendered.prod]) {
      expect(objects.length).toBeGreaterThan(20);
      for (const object of objects) expect(() => validate(object), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it('the validation itself catches a broken object', () => {
    const deployment = structuredClone(named(rendered.prod, 'Deployment', 'users'));
    deployment.spec.replicas = 'two';
    expect(() => validate(deployment)).toThrow(/replicas/);
    const topic = structuredClone(named(rendered.prod, 'KafkaTopic', 'events-raw'));
    topic.spec.partitons = 3;
    expect(() => validate(topic)).toThrow();
  });

  it('renders per service a ConfigMap, Deployment, Service, PDB and one autoscaler: KEDA for consumers, an HPA otherwise', () => {
    for (const objects of [rendered.dev, rendered.prod]) {
      for (const service of services) {
        for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget']) named(objects, kind, service);
        named(objects, 'ConfigMap', `${service}-config`);
        const consumer = consumers.includes(service);
        expect(objects.some((o) => o.kind === 'ScaledObject' && o.metadata.name === service), service).toBe(consumer);
        expect(objects.some((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === service), service).toBe(!consumer);
      }
    }
  });

  it('every Deployment has both probes on the health path, resources, non-root, graceful termination and a zero-downtime rollout', () => {
    for (const [profile, objects] of Object.entries(rendered)) {
      const deployments = ofKind(objects, 'Deployment');
      expect(deployments.map((d) => d.metadata.name).sort()).toEqual(services);
      // biome-ignore lint/suspicious/noExplicitAny: the Deployments were validated against their schema above
      for (const deployment of deployments as Array<K8sObject & { spec: any }>) {
        const where = `${profile} ${deployment.metadata.name}`;
        const pod = deployment.spec.template.spec;
        const [container] = pod.containers;
        expect(pod.containers, where).toHaveLength(1);
        for (const probe of ['readinessProbe', 'livenessProbe']) {
          expect(container[probe]?.httpGet, `${where} ${probe}`).toEqual({ path: '/health', port: 'http' });
        }
        // Liveness is lenient, readiness strict.
        expect(container.livenessProbe.periodSeconds * container.livenessProbe.failureThreshold).toBeGreaterThan(container.readinessProbe.periodSeconds * container.readinessProbe.failureThreshold);
        expect(container.resources.requests.memory, where).toMatch(/Mi$/);
        expect(container.resources.limits.cpu, where).toMatch(/m$/);
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
        expect(container.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
        expect(pod.terminationGracePeriodSeconds).toBe(TERMINATION_GRACE_SECONDS);
        expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
        expect(container.lifecycle.preStop.exec.command[0]).toBe('/bin/sleep');
        expect(deployment.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
        expect(container.envFrom).toEqual([{ configMapRef: { name: `${deployment.metadata.name}-config` } }]);
      }
    }
  });

  it('writes no secret value: every secret is a reference, and no service references one it does not use', async () => {
    expect(exported.files.map((f) => f.path).join(' ')).not.toMatch(/secret/i);
    expect([...rendered.dev, ...rendered.prod].some((object) => object.kind === 'Secret')).toBe(false);
    for (const file of exported.files) {
      const text = await readFile(join(out, file.path), 'utf8');
      for (const value of [KNOWN_SECRETS.jwtSecret, KNOWN_SECRETS.postgresPassword, KNOWN_SECRETS.internalAuth.privateKey, KNOWN_SECRETS.roleSeed]) expect(text).not.toContain(value);
    }
    const envOf = (service: string) => {
      const list = named(rendered.prod, 'Deployment', service).spec.template.spec.containers[0].env as Array<{ name: string; value?: string; valueFrom?: unknown }>;
      return { list, byName: Object.fromEntries(list.map((e) => [e.name, e])) };
    };
    const ref = (name: string, secret: string, key: string) => ({ name, valueFrom: { secretKeyRef: { name: `${project.name}-${secret}`, key } } });
    const roles: Record<string, string> = { users: 'users', notifications: 'notifications', analytics: 'analytics' };
    for (const service of services) {
      const { list, byName } = envOf(service);
      const expected: string[] = [];
      if (service === 'gateway' || service === 'users') expected.push('JWT_SECRET');
      expected.push(service === 'gateway' ? 'INTERNAL_AUTH_PRIVATE_KEY' : 'INTERNAL_AUTH_PUBLIC_KEY');
      if (roles[service]) expected.push('DATABASE_USER', 'DATABASE_PASSWORD', 'DATABASE_URL');
      expect(list.map((e) => e.name).sort(), service).toEqual(expected.sort());
      if (byName.JWT_SECRET) expect(byName.JWT_SECRET).toEqual(ref('JWT_SECRET', 'secrets', 'jwt-secret'));
      if (byName.INTERNAL_AUTH_PRIVATE_KEY) expect(byName.INTERNAL_AUTH_PRIVATE_KEY).toEqual(ref('INTERNAL_AUTH_PRIVATE_KEY', 'internal-auth', 'private-key'));
      if (byName.INTERNAL_AUTH_PUBLIC_KEY) expect(byName.INTERNAL_AUTH_PUBLIC_KEY).toEqual(ref('INTERNAL_AUTH_PUBLIC_KEY', 'internal-auth-public', 'public-key'));
      if (roles[service]) {
        // Its own role's Secret, never another service's or the cluster owner's.
        expect(byName.DATABASE_USER).toEqual(ref('DATABASE_USER', `db-${service}`, 'username'));
        expect(byName.DATABASE_PASSWORD).toEqual(ref('DATABASE_PASSWORD', `db-${service}`, 'password'));
        // $(VAR) expansion only sees variables defined earlier in the list.
        const order = list.map((e) => e.name);
        expect(order.indexOf('DATABASE_PASSWORD')).toBeLessThan(order.indexOf('DATABASE_URL'));
        expect(byName.DATABASE_URL).toEqual({ name: 'DATABASE_URL', value: `postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@${project.name}-postgres-rw:5432/app` });
      }
      const config = (named(rendered.prod, 'ConfigMap', `${service}-config`) as unknown as { data: Record<string, string> }).data;
      for (const key of ['JWT_SECRET', 'INTERNAL_AUTH_PRIVATE_KEY', 'INTERNAL_AUTH_PUBLIC_KEY', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_HEADERS']) expect(config, `${service} ${key}`).not.toHaveProperty(key);
      expect(Object.values(config).join('\n')).not.toContain('from-secret');
    }
  });

  it('gives each service that needs PostgreSQL its own login role owning its schema, and nothing more', () => {
    const cluster = named(rendered.prod, 'Cluster', `${project.name}-postgres`).spec;
    const roles = cluster.managed.roles as Array<Record<string, unknown>>;
    expect(roles.map((role) => role.name).sort()).toEqual(['analytics', 'notifications', 'users']);
    for (const role of roles) {
      expect(role).toMatchObject({ ensure: 'present', login: true, superuser: false, createdb: false, createrole: false, replication: false, bypassrls: false });
      expect(role.passwordSecret).toEqual({ name: `${project.name}-db-${role.name}` });
      expect(cluster.bootstrap.initdb.postInitApplicationSQL).toContain(`CREATE SCHEMA "${role.name}" AUTHORIZATION "${role.name}"`);
    }
    // The role exists before its schema names it as owner.
    const sql = cluster.bootstrap.initdb.postInitApplicationSQL as string[];
    expect(sql.indexOf('CREATE ROLE "users" NOLOGIN')).toBeLessThan(sql.indexOf('CREATE SCHEMA "users" AUTHORIZATION "users"'));
    expect(sql.join(';')).not.toMatch(/SUPERUSER|CREATEDB|CREATEROLE|GRANT/i);
  });

  it('names every Secret it references in the README, with the command that creates it', () => {
    const readme = exported.files.find((file) => file.path === 'README.md')!.text;
    const referenced = new Set<string>();
    for (const deployment of ofKind(rendered.prod, 'Deployment') as Array<K8sObject & { spec: { template: { spec: { containers: Array<{ env: Array<{ valueFrom?: { secretKeyRef?: { name: string } } }> }> } } } }>) {
      for (const env of deployment.spec.template.spec.containers[0]!.env) if (env.valueFrom?.secretKeyRef) referenced.add(env.valueFrom.secretKeyRef.name);
    }
    for (const role of named(rendered.prod, 'Cluster', `${project.name}-postgres`).spec.managed.roles as Array<{ passwordSecret: { name: string } }>) referenced.add(role.passwordSecret.name);
    expect(referenced.size).toBe(6);
    for (const name of referenced) expect(readme, name).toContain(`create secret generic ${name} `);
  });

  it('configures services as the runtimes do, with in-cluster addresses: Kafka bootstrap, schema, gateway routes to Service DNS names', () => {
    const data = (name: string) => (named(rendered.prod, 'ConfigMap', `${name}-config`) as unknown as { data: Record<string, string> }).data;
    expect(data('users')).toMatchObject({ SERVICE_NAME: 'users', HOST: '0.0.0.0', PORT: '4001', KAFKA_BROKERS: `${project.name}-kafka-bootstrap:9092`, DATABASE_SCHEMA: 'users', SHUTDOWN_TIMEOUT_MS: '10000' });
    expect(data('data-processing')).not.toHaveProperty('DATABASE_SCHEMA');
    const routes = JSON.parse(data('gateway').GATEWAY_ROUTES!) as Array<{ upstream: string; urls: string[]; prefix: string }>;
    expect(routes.find((r) => r.prefix === '/api/users')).toMatchObject({ upstream: 'users', urls: ['http://users:4001'] });
    for (const route of routes) {
      const [url] = route.urls;
      const service = named(rendered.prod, 'Service', route.upstream);
      expect(url).toBe(`http://${route.upstream}:${service.spec.ports[0].port}`);
    }
  });

  it('wires observability: a PodMonitor over every service, a Grafana dashboard, the OTLP endpoint in every ConfigMap', () => {
    const monitor = rendered.prod.find((object) => object.kind === 'PodMonitor') as unknown as { spec: { podMetricsEndpoints: Array<{ path: string }> } } | undefined;
    expect(monitor?.spec.podMetricsEndpoints[0]?.path).toBe('/metrics');
    const dashboards = rendered.prod.filter((object) => object.kind === 'ConfigMap' && JSON.stringify(object).includes('grafana_dashboard'));
    expect(dashboards).toHaveLength(1);
    for (const manifest of ['users', 'gateway', 'analytics']) {
      const data = (named(rendered.prod, 'ConfigMap', `${manifest}-config`) as unknown as { data: Record<string, string> }).data;
      expect(data.OTEL_EXPORTER_OTLP_ENDPOINT).toMatch(/^http:\/\/.+:4318$/);
    }
  });

  it('the dev overlay: one replica, small resources, one broker, one PostgreSQL instance, its own namespace', () => {
    const objects = rendered.dev;
    for (const object of objects) if (object.kind !== 'Namespace') expect(object.metadata.namespace, `${object.kind} ${object.metadata.name}`).toBe(`${project.name}-dev`);
    for (const service of services) {
      const deployment = named(objects, 'Deployment', service);
      expect(deployment.spec.replicas).toBe(1);
      expect(deployment.spec.template.spec.containers[0].resources).toEqual({ requests: { memory: '128Mi', cpu: '100m' }, limits: { memory: '256Mi', cpu: '250m' } });
      expect(named(objects, 'PodDisruptionBudget', service).spec).toMatchObject({ maxUnavailable: 1 });
    }
    expect(named(objects, 'KafkaNodePool', 'dual-role').spec.replicas).toBe(1);
    expect(named(objects, 'Cluster', `${project.name}-postgres`).spec.instances).toBe(1);
    const lag = named(objects, 'ScaledObject', 'notifications').spec.triggers.find((t: { type: string }) => t.type === 'kafka');
    expect(lag.metadata.bootstrapServers).toBe(`${project.name}-kafka-bootstrap.${project.name}-dev.svc:9092`);
  });

  it('the prod overlay: ≥ 2 replicas, HPA 2–10, PDB minAvailable 1, 3 brokers with replication 3, 3 PostgreSQL instances, partitions for 10 consumers', () => {
    const objects = rendered.prod;
    for (const service of services) {
      const deployment = named(objects, 'Deployment', service);
      expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
      expect(deployment.spec.template.spec.containers[0].resources).toEqual({ requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '512Mi', cpu: '500m' } });
      const pdb = named(objects, 'PodDisruptionBudget', service).spec;
      expect(pdb.minAvailable).toBe(1);
      expect(pdb).not.toHaveProperty('maxUnavailable');
      const scaler = consumers.includes(service) ? named(objects, 'ScaledObject', service).spec : named(objects, 'HorizontalPodAutoscaler', service).spec;
      expect([scaler.minReplicas ?? scaler.minReplicaCount, scaler.maxReplicas ?? scaler.maxReplicaCount]).toEqual([2, 10]);
    }
    expect(named(objects, 'HorizontalPodAutoscaler', 'gateway').spec.metrics[0].resource).toEqual({ name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } });
    expect(named(objects, 'KafkaNodePool', 'dual-role').spec.replicas).toBe(3);
    expect(named(objects, 'Kafka', project.name).spec.kafka.config).toMatchObject({ 'default.replication.factor': 3, 'min.insync.replicas': 2, 'offsets.topic.replication.factor': 3 });
    expect(named(objects, 'Cluster', `${project.name}-postgres`).spec.instances).toBe(3);
    const topics = ofKind(objects, 'KafkaTopic') as Array<K8sObject & { spec: { topicName: string; partitions: number; replicas: number } }>;
    expect(topics.map((t) => t.spec.topicName).sort()).toEqual(['events.dlq', 'events.processed', 'events.processed.dlq', 'events.raw', 'users.events', 'users.events.dlq']);
    for (const topic of topics) expect(topic.spec.replicas).toBe(3);
    expect(topics.find((t) => t.spec.topicName === 'users.events')!.spec.partitions).toBe(10);
    expect(topics.find((t) => t.spec.topicName === 'events.dlq')!.spec.partitions).toBe(3);
    for (const object of objects) if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe(project.name);
  });

  it('consumers scale on consumer-group lag: one Kafka trigger per consumed topic, their group, plus CPU', () => {
    const triggers = named(rendered.prod, 'ScaledObject', 'analytics').spec.triggers as Array<{ type: string; metadata: Record<string, string> }>;
    expect(triggers.filter((t) => t.type === 'kafka').map((t) => t.metadata)).toEqual(
      ['events.processed', 'users.events'].map((topic) => ({
        bootstrapServers: `${project.name}-kafka-bootstrap.${project.name}.svc:9092`,
        consumerGroup: 'analytics',
        topic,
        lagThreshold: '50',
        offsetResetPolicy: 'earliest',
      })),
    );
    expect(triggers.find((t) => t.type === 'cpu')).toMatchObject({ metricType: 'Utilization' });
    expect(named(rendered.prod, 'ScaledObject', 'analytics').spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'analytics' });
  });

  it('runs from the CLI: writes deploy/k8s by default, --json lists the files and images', async () => {
    const result = await msctl(['export', 'k8s', '--json', '--project-dir', fixture.dir, '--registry', 'registry.example/team', '--tag', 'v1']);
    expect(result.exitCode, String(result.stderr)).toBe(0);
    const report = JSON.parse(String(result.stdout)) as { out: string; files: string[]; images: Record<string, string> };
    expect(report.out).toBe(join(fixture.dir, 'deploy', 'k8s'));
    expect(report.files).toContain(join(fixture.dir, 'deploy', 'k8s', 'overlays', 'prod', 'kustomization.yaml'));
    expect(report.images.users).toBe(`registry.example/team/${project.name}-users:v1`);
    const prod = await kustomize(join(fixture.dir, 'deploy', 'k8s', 'overlays', 'prod'));
    expect(named(prod, 'Deployment', 'users').spec.template.spec.containers[0].image).toBe(`registry.example/team/${project.name}-users:v1`);
    const plain = await msctl(['export', 'k8s', '--project-dir', fixture.dir, '--out', join(out, 'cli')]);
    expect(plain.exitCode, String(plain.stderr)).toBe(0);
    expect(String(plain.stdout)).toMatch(/wrote \d+ files/);
  });

  it('a bad flag is a usage error (exit 2)', async () => {
    const result = await msctl(['export', 'k8s', '--nope', '--project-dir', fixture.dir]);
    expect(result.exitCode).toBe(2);
  });
});
