import type { Circuit } from '@msctl/kit';
import type { GatewayRoute } from './routes';

export interface UpstreamInstance {
  upstream: string;
  url: string;
  /** "users" for a single instance, "users#2" for the second of several. */
  label: string;
  circuit: Circuit;
}

/**
 * The instances of every upstream, each behind its own breaker. Requests go round-robin to
 * the instances whose breaker is not open; when every one is open, the next one is asked
 * anyway and its breaker answers (503 at once, no upstream call).
 */
export class UpstreamInstances {
  private readonly byUpstream = new Map<string, UpstreamInstance[]>();
  private readonly next = new Map<string, number>();

  constructor(routes: GatewayRoute[], circuitFor: (name: string) => Circuit) {
    for (const route of routes) {
      if (this.byUpstream.has(route.upstream)) continue;
      const many = route.urls.length > 1;
      this.byUpstream.set(
        route.upstream,
        route.urls.map((url, index) => {
          const label = many ? `${route.upstream}#${index + 1}` : route.upstream;
          return { upstream: route.upstream, url, label, circuit: circuitFor(`upstream:${label}`) };
        }),
      );
    }
  }

  all(): UpstreamInstance[] {
    return [...this.byUpstream.values()].flat();
  }

  pick(upstream: string): UpstreamInstance {
    const instances = this.byUpstream.get(upstream);
    if (!instances || instances.length === 0) throw new Error(`no instance of ${upstream}`);
    const start = this.next.get(upstream) ?? 0;
    for (let offset = 0; offset < instances.length; offset++) {
      const index = (start + offset) % instances.length;
      if (instances[index]!.circuit.state !== 'open') {
        this.next.set(upstream, index + 1);
        return instances[index]!;
      }
    }
    this.next.set(upstream, start + 1);
    return instances[start % instances.length]!;
  }
}
