/**
 * The Kubernetes export's observability objects: the PodMonitor scrapes the port the
 * Deployments name, the Grafana dashboard queries series the kit really exposes.
 */
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '@msctl/kit';
import { type grafanaDashboard, observabilityEnvironment, observabilityFiles } from '../../src/export/observability';
import { loadProject } from '../../src/stack/project';
import { repoRoot } from '../support/cli';

describe('export k8s: observability', () => {
  it('writes a PodMonitor and a Grafana dashboard whose queries use the kit’s metric names', async () => {
    const project = await loadProject(repoRoot);
    const [file] = observabilityFiles(project, { projectName: 'shop', monitorLabels: { release: 'kps' } });
    // biome-ignore lint/suspicious/noExplicitAny: the test reads nested fields of parsed YAML
    const docs = parseAllDocuments(file!.text).map((doc) => doc.toJS() as Record<string, any>);
    const [monitor, configMap] = docs;
    expect(monitor).toMatchObject({
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'PodMonitor',
      metadata: { labels: { release: 'kps' } },
      spec: { selector: { matchLabels: { 'app.kubernetes.io/part-of': 'shop' } }, podMetricsEndpoints: [{ port: 'http', path: '/metrics' }] },
    });
    expect(configMap).toMatchObject({ kind: 'ConfigMap', metadata: { labels: { grafana_dashboard: '1' } } });
    const dashboard = JSON.parse(configMap!.data['shop.json']) as ReturnType<typeof grafanaDashboard> & { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    expect(dashboard.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining(['Request rate per service', 'p99 latency per service', 'Error rate (5xx) per service', 'Consumer-group lag']),
    );

    const metrics = new ServiceMetrics('users');
    metrics.httpDuration.observe({ method: 'GET', route: '/x', status_code: '200' }, 0.01);
    metrics.breakerState.set({ breaker: 'postgres' }, 0);
    metrics.kafkaProduced.inc({ topic: 't' });
    metrics.kafkaConsumed.inc({ topic: 't', group: 'g' });
    const exposed = await metrics.render();
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/([a-z_]+)\{/g)].map((m) => m[1]!))));
    used.delete('kafka_consumergroup_lag'); // Strimzi's Kafka Exporter, not the services
    expect(used.size).toBeGreaterThan(3);
    for (const name of used) expect(exposed, name).toMatch(new RegExp(`^${name}`, 'm'));
    expect(observabilityEnvironment({ otlpEndpoint: 'http://tempo:4318' })).toEqual({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://tempo:4318' });
  });
});
