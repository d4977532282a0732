/**
 * The observability part of `msctl export k8s`, kept apart from k8s.ts so that the two can
 * be written in parallel; k8s.ts wires it in (see the lead's notes in the report):
 *
 * - a PodMonitor (prometheus-operator, monitoring.coreos.com/v1) that scrapes `GET /metrics` on
 *   the `http` port of every pod of the stack;
 * - a Grafana dashboard as a ConfigMap labelled `grafana_dashboard: "1"` (the convention of the
 *   Grafana sidecar in kube-prometheus-stack): request rate, p99 and error rate per service,
 *   circuit breaker states, Kafka produced/consumed rates and consumer-group lag (the
 *   `kafka_consumergroup_lag` series of Strimzi's Kafka Exporter);
 * - the OTLP wiring: OTEL_EXPORTER_OTLP_ENDPOINT for every service, pointing at an
 *   OpenTelemetry Collector (or Jaeger/Tempo's OTLP/HTTP port) in the cluster.
 */
import { stringify } from 'yaml';
import type { Project } from '../stack/project';

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; [key: string]: unknown }; [key: string]: unknown };

export interface ObservabilityOptions {
  /** The k8s name of the project (k8sNames(project).project). */
  projectName: string;
  /** OTLP/HTTP endpoint of the collector; default the OpenTelemetry Collector's service in `observability`. */
  otlpEndpoint?: string;
  /** Labels the Prometheus of the cluster selects PodMonitors by (kube-prometheus-stack: `release: <name>`). */
  monitorLabels?: Record<string, string>;
  scrapeInterval?: string;
}

export const DEFAULT_OTLP_ENDPOINT = 'http://otel-collector.observability.svc:4318';

/** The environment every service gets for tracing in the cluster; merge into configEnvironment(). */
export function observabilityEnvironment(options: Pick<ObservabilityOptions, 'otlpEndpoint'> = {}): Record<string, string> {
  return { OTEL_EXPORTER_OTLP_ENDPOINT: options.otlpEndpoint ?? DEFAULT_OTLP_ENDPOINT };
}

export function podMonitor(options: ObservabilityOptions): K8sObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: { name: `${options.projectName}-services`, labels: { 'app.kubernetes.io/part-of': options.projectName, ...options.monitorLabels } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/part-of': options.projectName } },
      podMetricsEndpoints: [{ port: 'http', path: '/metrics', interval: options.scrapeInterval ?? '15s', scrapeTimeout: '10s' }],
    },
  };
}

interface Panel {
  title: string;
  type: 'timeseries' | 'stat' | 'state-timeline';
  unit: string;
  targets: Array<{ expr: string; legend: string }>;
}

const panels = (services: string[]): Panel[] => {
  const svc = services.length > 0 ? `service=~"${services.join('|')}"` : 'service!=""';
  return [
    {
      title: 'Request rate per service',
      type: 'timeseries',
      unit: 'reqps',
      targets: [{ expr: `sum by (service) (rate(http_request_duration_seconds_count{${svc},route!~"/health|/metrics"}[1m]))`, legend: '{{service}}' }],
    },
    {
      title: 'p99 latency per service',
      type: 'timeseries',
      unit: 's',
      targets: [
        {
          expr: `histogram_quantile(0.99, sum by (service, le) (rate(http_request_duration_seconds_bucket{${svc},route!~"/health|/metrics"}[5m])))`,
          legend: '{{service}}',
        },
      ],
    },
    {
      title: 'Error rate (5xx) per service',
      type: 'timeseries',
      unit: 'percentunit',
      targets: [
        {
          expr:
            `sum by (service) (rate(http_request_duration_seconds_count{${svc},status_code=~"5.."}[5m])) / ` +
            `clamp_min(sum by (service) (rate(http_request_duration_seconds_count{${svc}}[5m])), 1e-9)`,
          legend: '{{service}}',
        },
      ],
    },
    {
      title: 'Circuit breakers (0 closed, 1 half-open, 2 open)',
      type: 'state-timeline',
      unit: 'none',
      targets: [{ expr: `max by (service, breaker) (circuit_breaker_state{${svc}})`, legend: '{{service}} {{breaker}}' }],
    },
    {
      title: 'Kafka messages produced / consumed',
      type: 'timeseries',
      unit: 'ops',
      targets: [
        { expr: `sum by (service, topic) (rate(kafka_messages_produced_total{${svc}}[1m]))`, legend: '{{service}} → {{topic}}' },
        { expr: `sum by (service, topic) (rate(kafka_messages_consumed_total{${svc}}[1m]))`, legend: '{{topic}} → {{service}}' },
      ],
    },
    {
      title: 'Consumer-group lag',
      type: 'timeseries',
      unit: 'none',
      targets: [{ expr: 'sum by (consumergroup, topic) (kafka_consumergroup_lag)', legend: '{{consumergroup}} {{topic}}' }],
    },
  ];
};

/** A Grafana dashboard (schemaVersion 39) for the stack, datasource chosen by a variable. */
export function grafanaDashboard(options: ObservabilityOptions, services: string[]): Record<string, unknown> {
  return {
    title: `${options.projectName} services`,
    uid: `msctl-${options.projectName}`.slice(0, 40),
    tags: ['msctl', options.projectName],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '10s',
    time: { from: 'now-1h', to: 'now' },
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }] },
    panels: panels(services).map((panel, i) => ({
      id: i + 1,
      title: panel.title,
      type: panel.type,
      datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
      fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
      targets: panel.targets.map((target, j) => ({ refId: String.fromCharCode(65 + j), expr: target.expr, legendFormat: target.legend })),
    })),
  };
}

export function grafanaDashboardConfigMap(options: ObservabilityOptions, services: string[]): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${options.projectName}-grafana-dashboard`, labels: { grafana_dashboard: '1', 'app.kubernetes.io/part-of': options.projectName } },
    data: { [`${options.projectName}.json`]: JSON.stringify(grafanaDashboard(options, services), null, 2) },
  };
}

/** The files to add to the export's base (and its kustomization's resources). */
export function observabilityFiles(project: Project, options: ObservabilityOptions): Array<{ path: string; objects: K8sObject[]; text: string }> {
  const services = project.manifests.map((manifest) => manifest.name);
  const header = '# Generated by `msctl export k8s` (observability). Needs the prometheus-operator CRDs and a Grafana dashboard sidecar.\n';
  const file = (path: string, objects: K8sObject[]) => ({ path, objects, text: header + objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n') });
  return [file('base/observability.yaml', [podMonitor(options), grafanaDashboardConfigMap(options, services)])];
}
