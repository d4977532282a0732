/**
 * `msctl export k8s`: the stack as Kubernetes manifests — a Kustomize base and `dev` and `prod`
 * overlays. Services become Deployments (probes from the health contract, non-root, graceful
 * termination matching the service's drain, zero-downtime rolling updates) with a Service, a
 * PodDisruptionBudget and an autoscaler: an HPA on CPU for HTTP-only services, a KEDA
 * ScaledObject on consumer-group lag (plus CPU) for consumers — one autoscaler per Deployment,
 * as KEDA owns an HPA of its own. Kafka runs on the Strimzi operator (KRaft, node pools,
 * one KafkaTopic per stack topic), PostgreSQL on CloudNativePG with one login role per service
 * that owns only its schema. No secret value is written: the Deployments reference Secrets by
 * name, and each references only the ones its service uses. NetworkPolicies deny by default and
 * open exactly the paths the manifests' `needs` describe (network-policies.ts).
 * Pure: project in, objects and YAML text out.
 */
import { DEFAULT_TIMEOUT_SECONDS } from '../runtime/runtime';
import { KAFKA_PORT, k8sNames, type K8sNames, type K8sObject, type Profile } from './k8s-names';
import { kafkaClientPeers, NAMESPACES, networkPolicies, POSTGRES_PORT } from './network-policies';
import { observabilityEnvironment, observabilityFiles } from './observability';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IEnvVar } from 'kubernetes-models/v1/EnvVar';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { stringify } from 'yaml';
import { stackTopics, type ServiceManifest } from '../stack/manifest';
import { serviceRoles } from '../stack/database-roles';
import type { Project } from '../stack/project';
import type { StackSecrets } from '../stack/secrets';
import { serviceEnvironment } from '../stack/service-env';

export interface K8sOptions {
  /** Images are `<registry>/<project>-<service>:<tag>`; default `msctl`, the docker runtime's names. */
  registry?: string;
  /** The tag of every service image (default `latest`), unless `tags` names one. */
  tag?: string;
  /** Per-service tags (e.g. the content tags msctl built). */
  tags?: Record<string, string>;
}

export interface K8sFile {
  /** Relative to the output folder. */
  path: string;
  text: string;
  /** The objects in the file (a kustomization counts as one). */
  objects: Array<Record<string, unknown>>;
}

/** The numbers that differ between the overlays. Base = one replica each, the seed's resources. */
export const PROFILES = {
  dev: {
    resources: { requests: { memory: '128Mi', cpu: '100m' }, limits: { memory: '256Mi', cpu: '250m' } },
    minReplicas: 1,
    maxReplicas: 2,
    kafkaBrokers: 1,
    postgresInstances: 1,
  },
  prod: {
    resources: { requests: { memory: '256Mi', cpu: '250m' }, limits: { memory: '512Mi', cpu: '500m' } },
    minReplicas: 2,
    maxReplicas: 10,
    kafkaBrokers: 3,
    postgresInstances: 3,
  },
} as const;

const BASE_RESOURCES = PROFILES.prod.resources;
export const APP_UID = 1000;
/** What a service's SHUTDOWN_TIMEOUT_MS is set to: stop accepting, drain, commit offsets, close pools. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Seconds a terminating pod keeps serving so that endpoints (kube-proxy, the gateway's connections) drop it first. */
export const PRE_STOP_SECONDS = 5;
/** preStop + the service's drain + a margin, at least 30 s. */
export const TERMINATION_GRACE_SECONDS = Math.max(30, PRE_STOP_SECONDS + Math.ceil(SHUTDOWN_TIMEOUT_MS / 1000) + 10);
export const POSTGRES_DATABASE = 'app';
/** Consumer lag per replica at which KEDA adds one. */
export const LAG_THRESHOLD = 50;
export const CPU_TARGET_PERCENT = 70;

/** A service only consumed by HTTP gets an HPA; a consumer scales on lag (and CPU) through KEDA. */
export const isConsumer = (manifest: ServiceManifest) => manifest.consumes.length > 0;

const selectorOf = (project: string, service: string) => ({ 'app.kubernetes.io/name': service, 'app.kubernetes.io/part-of': project });

/** Stands for every secret value, so that what serviceEnvironment derives from one is recognised and left out. */
const FROM_SECRET = '<from-secret>';
const PLACEHOLDER_SECRETS: StackSecrets = {
  jwtSecret: FROM_SECRET,
  postgresPassword: FROM_SECRET,
  internalAuth: { privateKey: FROM_SECRET, publicKey: FROM_SECRET },
  otlpToken: FROM_SECRET,
  roleSeed: FROM_SECRET,
};

/** The service's environment as the runtimes give it, with in-cluster addresses; secret values are placeholders. */
function clusterEnvironment(project: Project, manifest: ServiceManifest, names: K8sNames): Record<string, string> {
  const env = serviceEnvironment(
    project,
    manifest,
    {
      kafkaBootstrap: names.kafkaBootstrap(),
      postgresUrl: FROM_SECRET,
      // One Service per service: kube-proxy balances across its pods.
      serviceUrls: (service) => [`http://${service}:${project.manifests.find((m) => m.name === service)?.port ?? 0}`],
    },
    PLACEHOLDER_SECRETS,
    // Inside the pod: the Service reaches it on the pod's address, never the host's.
    { host: '0.0.0.0' },
  );
  // Spans go to the cluster's OpenTelemetry Collector.
  Object.assign(env, observabilityEnvironment());
  env.SHUTDOWN_TIMEOUT_MS = String(SHUTDOWN_TIMEOUT_MS);
  return env;
}

/** The environment that is not secret: the same as the runtimes give the service, with in-cluster addresses. */
export function configEnvironment(project: Project, manifest: ServiceManifest, names: K8sNames): Record<string, string> {
  const env = Object.entries(clusterEnvironment(project, manifest, names)).filter(([, value]) => !value.includes(FROM_SECRET));
  return Object.fromEntries(env.sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * Secrets by reference only, and only those serviceEnvironment gives this service (least
 * privilege is decided there, once, for every runtime and export). A secret it starts giving
 * that has no reference here fails the export rather than being left out silently.
 */
function secretEnvironment(project: Project, manifest: ServiceManifest, names: K8sNames): IEnvVar[] {
  const secret = (name: string, secretName: string, key: string): IEnvVar => ({ name, valueFrom: { secretKeyRef: { name: secretName, key } } });
  const references: Record<string, IEnvVar[]> = {
    JWT_SECRET: [secret('JWT_SECRET', names.secret, 'jwt-secret')],
    INTERNAL_AUTH_PRIVATE_KEY: [secret('INTERNAL_AUTH_PRIVATE_KEY', names.internalAuthSecret, 'private-key')],
    INTERNAL_AUTH_PUBLIC_KEY: [secret('INTERNAL_AUTH_PUBLIC_KEY', names.internalAuthPublicSecret, 'public-key')],
    DATABASE_URL: [
      // The service's own role, whose password CloudNativePG sets from the same Secret.
      secret('DATABASE_USER', names.databaseSecret(manifest.name), 'username'),
      secret('DATABASE_PASSWORD', names.databaseSecret(manifest.name), 'password'),
      // Kubernetes expands $(VAR) from the variables defined above it.
      { name: 'DATABASE_URL', value: `postgres://$(DATABASE_USER):$(DATABASE_PASSWORD)@${names.postgresHost}:${POSTGRES_PORT}/${POSTGRES_DATABASE}` },
    ],
  };
  return Object.entries(clusterEnvironment(project, manifest, names))
    .filter(([, value]) => value.includes(FROM_SECRET))
    .flatMap(([key]) => {
      const reference = references[key];
      if (!reference) throw new Error(`${manifest.name}: no Kubernetes Secret reference for ${key}`);
      return reference;
    });
}

function probe(manifest: ServiceManifest, timing: { periodSeconds: number; timeoutSeconds: number; failureThreshold: number }): IProbe {
  return { httpGet: { path: manifest.healthPath, port: 'http' }, ...timing };
}

function serviceObjects(project: Project, manifest: ServiceManifest, names: K8sNames): K8sObject[] {
  const name = manifest.name;
  const labels = { ...selectorOf(names.project, name), 'app.kubernetes.io/component': manifest.gateway ? 'gateway' : 'service' };
  const startSeconds = manifest.startTimeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  const configMap: IConfigMap & K8sObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: names.configMap(name), labels }, data: configEnvironment(project, manifest, names) };
  const deployment: IDeployment & K8sObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, labels },
    spec: {
      replicas: manifest.replicas,
      revisionHistoryLimit: 5,
      minReadySeconds: 5,
      selector: { matchLabels: selectorOf(names.project, name) },
      // Zero downtime: a new pod must be ready before an old one goes.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(manifest.port), 'prometheus.io/path': '/metrics' } },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          securityContext: { runAsNonRoot: true, runAsUser: APP_UID, runAsGroup: APP_UID, fsGroup: APP_UID, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name,
              image: names.image(name),
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: manifest.port, protocol: 'TCP' }],
              envFrom: [{ configMapRef: { name: names.configMap(name) } }],
              env: secretEnvironment(project, manifest, names),
              resources: BASE_RESOURCES,
              // Started: up to the manifest's start timeout. Ready (strict): out of rotation after 2 failed checks.
              // Live (lenient): restarted only after 2 minutes of failing, so a dependency outage does not restart it.
              startupProbe: probe(manifest, { periodSeconds: 2, timeoutSeconds: 2, failureThreshold: Math.ceil(startSeconds / 2) }),
              readinessProbe: { ...probe(manifest, { periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 }), successThreshold: 1 },
              livenessProbe: probe(manifest, { periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 6 }),
              lifecycle: { preStop: { exec: { command: ['/bin/sleep', String(PRE_STOP_SECONDS)] } } },
              securityContext: {
                runAsNonRoot: true,
                runAsUser: APP_UID,
                runAsGroup: APP_UID,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
            },
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
        },
      },
    },
  };
  const service: IService & K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, labels },
    spec: { type: 'ClusterIP', selector: selectorOf(names.project, name), ports: [{ name: 'http', port: manifest.port, targetPort: 'http', protocol: 'TCP' }] },
  };
  const pdb: IPodDisruptionBudget & K8sObject = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, labels },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorOf(names.project, name) } },
  };
  const objects: K8sObject[] = [configMap, deployment, service, pdb];
  if (isConsumer(manifest)) objects.push(scaledObject(manifest, names, labels, { min: manifest.replicas, max: Math.max(3, manifest.replicas) }, names.namespace.prod));
  else objects.push(hpa(manifest, labels, { min: manifest.replicas, max: Math.max(3, manifest.replicas) }));
  return objects;
}

function hpa(manifest: ServiceManifest, labels: Record<string, string>, replicas: { min: number; max: number }): K8sObject {
  const object: IHorizontalPodAutoscaler & K8sObject = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: manifest.name, labels },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: manifest.name },
      minReplicas: replicas.min,
      maxReplicas: replicas.max,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: CPU_TARGET_PERCENT } } }],
    },
  };
  return object;
}

export function kafkaTriggers(manifest: ServiceManifest, names: K8sNames, namespace: string): NonNullable<IScaledObject['spec']>['triggers'] {
  return [
    ...manifest.consumes.map((topic) => ({
      type: 'kafka',
      // KEDA's operator runs in its own namespace: the broker's full name.
      metadata: { bootstrapServers: names.kafkaBootstrap(namespace), consumerGroup: manifest.name, topic, lagThreshold: String(LAG_THRESHOLD), offsetResetPolicy: 'earliest' },
    })),
    { type: 'cpu', metricType: 'Utilization', metadata: { value: String(CPU_TARGET_PERCENT) } },
  ];
}

function scaledObject(manifest: ServiceManifest, names: K8sNames, labels: Record<string, string>, replicas: { min: number; max: number }, namespace: string): K8sObject {
  const object: IScaledObject & K8sObject = {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: manifest.name, labels },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: manifest.name },
      minReplicaCount: replicas.min,
      maxReplicaCount: replicas.max,
      pollingInterval: 15,
      cooldownPeriod: 300,
      triggers: kafkaTriggers(manifest, names, namespace),
    },
  };
  return object;
}

/** Topics consumed by someone need a partition per consumer replica, up to the profile's maximum. */
export function topicPartitions(project: Project, maxReplicas: number): Array<{ topic: string; partitions: number; consumed: boolean }> {
  const consumed = new Set(project.manifests.flatMap((manifest) => manifest.consumes));
  return stackTopics(project.manifests).map((spec) => ({
    ...spec,
    consumed: consumed.has(spec.topic),
    partitions: consumed.has(spec.topic) ? Math.max(spec.partitions, maxReplicas) : spec.partitions,
  }));
}

function kafkaConfig(brokers: number): Record<string, string | number | boolean> {
  const replication = Math.min(3, brokers);
  return {
    'auto.create.topics.enable': false,
    'default.replication.factor': replication,
    'min.insync.replicas': Math.max(1, replication - 1),
    'offsets.topic.replication.factor': replication,
    'transaction.state.log.replication.factor': replication,
    'transaction.state.log.min.isr': Math.max(1, replication - 1),
    'num.partitions': 3,
  };
}

function kafkaObjects(project: Project, names: K8sNames): K8sObject[] {
  const labels = { 'app.kubernetes.io/part-of': names.project, 'app.kubernetes.io/component': 'kafka' };
  return [
    {
      apiVersion: 'kafka.strimzi.io/v1beta2',
      kind: 'Kafka',
      metadata: { name: names.kafka, labels, annotations: { 'strimzi.io/node-pools': 'enabled', 'strimzi.io/kraft': 'enabled' } },
      spec: {
        kafka: {
          // Strimzi writes a NetworkPolicy per listener; without peers it would let any pod in.
          listeners: [{ name: 'plain', port: KAFKA_PORT, type: 'internal', tls: false, networkPolicyPeers: kafkaClientPeers(project, names) }],
          config: kafkaConfig(1),
        },
        entityOperator: { topicOperator: {}, userOperator: {} },
      },
    },
    {
      apiVersion: 'kafka.strimzi.io/v1beta2',
      kind: 'KafkaNodePool',
      metadata: { name: names.nodePool, labels: { ...labels, 'strimzi.io/cluster': names.kafka } },
      spec: {
        replicas: 1,
        roles: ['controller', 'broker'],
        storage: { type: 'jbod', volumes: [{ id: 0, type: 'persistent-claim', size: '10Gi', deleteClaim: false, kraftMetadata: 'shared' }] },
        resources: { requests: { memory: '1Gi', cpu: '500m' }, limits: { memory: '2Gi', cpu: '1' } },
      },
    },
    ...topicPartitions(project, 1).map(
      (spec): K8sObject => ({
        apiVersion: 'kafka.strimzi.io/v1beta2',
        kind: 'KafkaTopic',
        metadata: { name: names.topic(spec.topic), labels: { ...labels, 'strimzi.io/cluster': names.kafka } },
        spec: { topicName: spec.topic, partitions: spec.partitions, replicas: 1, config: { 'min.insync.replicas': 1 } },
      }),
    ),
  ];
}

function postgresObjects(project: Project, names: K8sNames): K8sObject[] {
  const roles = serviceRoles(project);
  return [
    {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: { name: names.postgres, labels: { 'app.kubernetes.io/part-of': names.project, 'app.kubernetes.io/component': 'postgres' } },
      spec: {
        instances: 1,
        // The major version the docker runtime runs (postgres:18).
        imageName: 'ghcr.io/cloudnative-pg/postgresql:18',
        primaryUpdateStrategy: 'unsupervised',
        bootstrap: {
          initdb: {
            database: POSTGRES_DATABASE,
            owner: POSTGRES_DATABASE,
            // Managed roles are reconciled after bootstrap, too late to own a schema created here:
            // the roles are created first without login, and the operator then gives them login
            // and their password (it adopts a role that exists).
            postInitApplicationSQL: roles.flatMap(({ role }) => [`CREATE ROLE "${role}" NOLOGIN`, `CREATE SCHEMA "${role}" AUTHORIZATION "${role}"`]),
          },
        },
        // One role per service, no more than it needs: it logs in and owns its schema, nothing else.
        managed: {
          roles: roles.map(({ service, role }) => ({
            name: role,
            ensure: 'present',
            comment: `msctl service ${service}`,
            login: true,
            superuser: false,
            createdb: false,
            createrole: false,
            inherit: false,
            replication: false,
            bypassrls: false,
            connectionLimit: -1,
            passwordSecret: { name: names.databaseSecret(service) },
          })),
        },
        storage: { size: '10Gi' },
        resources: { requests: { memory: '512Mi', cpu: '250m' }, limits: { memory: '1Gi', cpu: '1' } },
      },
    },
  ];
}

// ---- overlays: strategic-merge patches (kustomize matches them by kind and name) ----

function patchFor(object: K8sObject, spec: Record<string, unknown>): K8sObject {
  return { apiVersion: object.apiVersion, kind: object.kind, metadata: { name: object.metadata.name }, spec };
}

function overlayPatches(project: Project, names: K8sNames, base: K8sObject[], profile: Profile): K8sObject[] {
  const settings = PROFILES[profile];
  const namespace = names.namespace[profile];
  const patches: K8sObject[] = [];
  for (const object of base) {
    const manifest = project.manifests.find((m) => m.name === object.metadata.name);
    const replicas = profile === 'dev' ? 1 : Math.max(settings.minReplicas, manifest?.replicas ?? 1);
    switch (object.kind) {
      case 'Deployment':
        patches.push(patchFor(object, { replicas, template: { spec: { containers: [{ name: object.metadata.name, resources: settings.resources }] } } }));
        break;
      case 'HorizontalPodAutoscaler':
        patches.push(patchFor(object, { minReplicas: replicas, maxReplicas: Math.max(settings.maxReplicas, replicas) }));
        break;
      case 'ScaledObject':
        patches.push(
          patchFor(object, { minReplicaCount: replicas, maxReplicaCount: Math.max(settings.maxReplicas, replicas), triggers: kafkaTriggers(manifest!, names, namespace) }),
        );
        break;
      case 'PodDisruptionBudget':
        // prod: never fewer than one ready pod; dev (one replica): a node can still be drained.
        if (profile === 'prod') patches.push(patchFor(object, { minAvailable: 1, maxUnavailable: null }));
        break;
      case 'Kafka':
        if (settings.kafkaBrokers !== 1) patches.push(patchFor(object, { kafka: { config: kafkaConfig(settings.kafkaBrokers) } }));
        break;
      case 'KafkaNodePool':
        patches.push(patchFor(object, { replicas: settings.kafkaBrokers, ...(profile === 'dev' ? { storage: { type: 'jbod', volumes: [{ id: 0, type: 'persistent-claim', size: '2Gi', deleteClaim: true, kraftMetadata: 'shared' }] } } : {}) }));
        break;
      case 'KafkaTopic': {
        const spec = object.spec as { topicName: string };
        const topic = topicPartitions(project, settings.maxReplicas).find((t) => t.topic === spec.topicName)!;
        const replication = Math.min(3, settings.kafkaBrokers);
        patches.push(patchFor(object, { partitions: topic.partitions, replicas: replication, config: { 'min.insync.replicas': Math.max(1, replication - 1) } }));
        break;
      }
      case 'Cluster':
        patches.push(patchFor(object, { instances: settings.postgresInstances, ...(profile === 'dev' ? { storage: { size: '1Gi' } } : {}) }));
        break;
    }
  }
  return patches;
}

// ---- files ----

const HEADER = '# Generated by `msctl export k8s`. Regenerate after changing a service manifest.\n';

const yamlDocs = (objects: Array<Record<string, unknown>>) => HEADER + objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');

export interface K8sExport {
  files: K8sFile[];
  /** Service → the image reference the rendered overlays run. */
  images: Record<string, string>;
  base: K8sObject[];
  patches: Record<Profile, K8sObject[]>;
}

export function k8sExport(project: Project, options: K8sOptions = {}): K8sExport {
  const names = k8sNames(project);
  const files: K8sFile[] = [];
  const base: K8sObject[] = [];
  const add = (path: string, objects: K8sObject[]) => {
    files.push({ path, objects, text: yamlDocs(objects) });
    base.push(...objects);
  };
  add('base/kafka.yaml', kafkaObjects(project, names));
  add('base/postgres.yaml', postgresObjects(project, names));
  add('base/network-policies.yaml', networkPolicies(project, names));
  for (const manifest of project.manifests) add(`base/${manifest.name}.yaml`, serviceObjects(project, manifest, names));
  // Prometheus scraping (a PodMonitor) and the Grafana dashboard, for the prometheus-operator.
  for (const file of observabilityFiles(project, { projectName: names.project })) add(file.path, file.objects);
  const registry = options.registry ?? 'msctl';
  const baseKustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    labels: [{ pairs: { 'app.kubernetes.io/managed-by': 'msctl' }, includeSelectors: false }],
    resources: files.map((file) => file.path.slice('base/'.length)),
    // `kustomize edit set image` (or --registry/--tag) points these at your registry.
    images: project.manifests.map((manifest) => ({
      name: names.image(manifest.name),
      ...(registry !== 'msctl' ? { newName: `${registry.replace(/\/+$/, '')}/${project.name}-${manifest.name}` } : {}),
      newTag: options.tags?.[manifest.name] ?? options.tag ?? 'latest',
    })),
  };
  files.push({ path: 'base/kustomization.yaml', objects: [baseKustomization], text: HEADER + stringify(baseKustomization, { lineWidth: 0 }) });

  const patches = {} as Record<Profile, K8sObject[]>;
  for (const profile of ['dev', 'prod'] as const) {
    const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: names.namespace[profile] } };
    files.push({ path: `overlays/${profile}/namespace.yaml`, objects: [namespace], text: yamlDocs([namespace]) });
    patches[profile] = overlayPatches(project, names, base, profile);
    const patchFiles = patches[profile].map((patch) => {
      const path = `patches/${patch.kind.toLowerCase()}-${patch.metadata.name}.yaml`;
      files.push({ path: `overlays/${profile}/${path}`, objects: [patch], text: yamlDocs([patch]) });
      return path;
    });
    const kustomization = {
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace: names.namespace[profile],
      resources: ['../../base', 'namespace.yaml'],
      labels: [{ pairs: { 'app.kubernetes.io/instance': `${names.project}-${profile}` }, includeSelectors: false }],
      patches: patchFiles.map((path) => ({ path })),
    };
    files.push({ path: `overlays/${profile}/kustomization.yaml`, objects: [kustomization], text: HEADER + stringify(kustomization, { lineWidth: 0 }) });
  }
  files.push({ path: 'README.md', objects: [], text: readme(project, names) });
  const images = Object.fromEntries(project.manifests.map((manifest, i) => {
    const entry = baseKustomization.images[i]!;
    return [manifest.name, `${entry.newName ?? entry.name}:${entry.newTag}`];
  }));
  return { files, images, base, patches };
}

function readme(project: Project, names: K8sNames): string {
  return `# ${project.name} on Kubernetes

Generated by \`msctl export k8s\` from the service manifests. A Kustomize base and two overlays:

| overlay | namespace | services | Kafka | PostgreSQL |
|---|---|---|---|---|
| \`dev\` | \`${names.namespace.dev}\` | 1 replica, autoscaled to ${PROFILES.dev.maxReplicas}, small resources | 1 broker | 1 instance |
| \`prod\` | \`${names.namespace.prod}\` | ≥ ${PROFILES.prod.minReplicas} replicas, autoscaled to ${PROFILES.prod.maxReplicas}, PDB minAvailable 1 | ${PROFILES.prod.kafkaBrokers} brokers, replication 3 | ${PROFILES.prod.postgresInstances} instances |

## Before you apply

1. The operators: [Strimzi](https://strimzi.io) (Kafka, KRaft with node pools), [CloudNativePG](https://cloudnative-pg.io)
   (PostgreSQL) and [KEDA](https://keda.sh) (consumers scale on consumer-group lag). HPAs need a metrics-server.
2. The images, in a registry your cluster pulls from: \`msctl up --runtime docker\` builds them
   (\`msctl/${project.name}-<service>:<content tag>\`); tag and push them, then point the base at them:
   \`msctl export k8s --registry <registry> --tag <tag>\`, or \`kustomize edit set image\` in \`base/\`.
3. The secrets msctl does not write (each Deployment references only those its service uses):

   \`\`\`sh
   ns=${names.namespace.prod}
   # The end users' token key: the gateway verifies, users signs.
   kubectl -n "$ns" create secret generic ${names.secret} --from-literal=jwt-secret="$(openssl rand -base64 48)"
   # The gateway's Ed25519 key for the assertions it sends upstream: private half to the gateway only.
   openssl genpkey -algorithm ed25519 -out internal-auth.pem && openssl pkey -in internal-auth.pem -pubout -out internal-auth.pub
   kubectl -n "$ns" create secret generic ${names.internalAuthSecret} --from-file=private-key=internal-auth.pem
   kubectl -n "$ns" create secret generic ${names.internalAuthPublicSecret} --from-file=public-key=internal-auth.pub
   rm internal-auth.pem
${serviceRoles(project).map(({ service, role }) => `   kubectl -n "$ns" create secret generic ${names.databaseSecret(service)} --type=kubernetes.io/basic-auth --from-literal=username=${role} --from-literal=password="$(openssl rand -hex 24)"`).join('\n')}
   \`\`\`

   Each service connects to PostgreSQL as its own role (${serviceRoles(project).map(({ role }) => `\`${role}\``).join(', ')}), which CloudNativePG
   manages from its \`${names.project}-db-<service>\` Secret above; it owns its schema and nothing else (no superuser,
   no CREATEDB, no CREATEROLE). The service builds \`DATABASE_URL\` from that Secret and the primary's service \`${names.postgresHost}\`.
4. The NetworkPolicies (\`base/network-policies.yaml\`) deny everything in the namespace by default: only the gateway's
   port is open to all; each upstream answers the gateway (and \`${NAMESPACES.monitoring}\`'s Prometheus); Kafka and PostgreSQL
   answer the services that need them (and the \`${NAMESPACES.keda}\` and \`${NAMESPACES.cnpg}\` operators). They assume those
   operators' default namespaces and a CNI that enforces NetworkPolicy.
5. The limits on sign-ups and log-ins, and the back-off after failed log-ins, are kept in users' PostgreSQL
   tables, so they hold across every gateway and users replica the HPA adds. The gateway's per-client
   \`RATE_LIMIT_PER_SECOND\` is per replica. The gateway keys anonymous limits by the address its socket sees:
   expose it through a LoadBalancer Service with \`externalTrafficPolicy: Local\` so that is the client's; behind an
   HTTP ingress, every client shares the ingress's address and its budget.

\`\`\`sh
kubectl apply -k overlays/prod      # or: kubectl kustomize overlays/prod
\`\`\`
`;
}
