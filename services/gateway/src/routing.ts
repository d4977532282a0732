import type { Circuit, HealthReporter } from '@msctl/kit';
import { UpstreamInstances } from './instances';
import { buildOpenApiDocument } from './openapi';
import type { GatewayRoute } from './routes';

/**
 * What the gateway routes by, replaced whole when msctl sends a new table (a restarted
 * instance listens elsewhere, a manifest gained a route): a request reads one table from
 * start to end, and the next request the new one.
 */
export class RoutingTable {
  readonly instances: UpstreamInstances;
  readonly openapi: string;

  constructor(
    readonly routes: GatewayRoute[],
    circuitFor: (name: string) => Circuit,
    readonly version = 0,
  ) {
    this.instances = new UpstreamInstances(routes, circuitFor);
    this.openapi = JSON.stringify(buildOpenApiDocument(routes));
  }

  urls(): Set<string> {
    return new Set(this.instances.all().map((instance) => instance.url));
  }

  /** The upstreams and their instances, as the control call answers them. */
  describe(): Record<string, string[]> {
    const upstreams: Record<string, string[]> = {};
    for (const instance of this.instances.all()) (upstreams[instance.upstream] ??= []).push(instance.url);
    return upstreams;
  }

  /**
   * One health check per instance: added for the new table's, removed for the old one's.
   * `probe` asks an instance's /health and throws unless it answered 2xx.
   */
  replaceChecks(health: HealthReporter, previous: RoutingTable | undefined, probe: (url: string) => Promise<void>): void {
    for (const instance of previous?.instances.all() ?? []) health.removeCheck(`${instance.label}:health`);
    for (const instance of this.instances.all()) {
      health.addCheck({
        name: `${instance.label}:health`,
        componentType: 'component',
        critical: false,
        probe: () =>
          probe(instance.url).catch((error: unknown) => {
            throw new Error(`${instance.label} ${error instanceof Error ? error.message : String(error)}`);
          }),
      });
    }
  }
}
