/**
 * The security suites' stack: the four upstream services in this process against the run's
 * real Kafka and PostgreSQL (as test/e2e/stack.ts does), each recording the routes it
 * registers, and as many gateways in front of them as a test wants (one per rate limit).
 */
import { join } from 'node:path';
import { startService, type RunningService } from '@msctl/kit';
import { TEST_JWT_SECRET, testEnv, uniqueSuffix } from '@msctl/kit/testing';
import { analyticsService } from '../../services/analytics/src/service';
import { dataProcessingService } from '../../services/data-processing/src/service';
import { gatewayService } from '../../services/gateway/src/service';
import { notificationsService } from '../../services/notifications/src/service';
import { usersService } from '../../services/users/src/service';
import { gatewayRoutes, loadManifests } from '../../src/stack/manifest';

export { TEST_JWT_SECRET };

export interface RegisteredRoute {
  method: string;
  url: string;
}

export interface SecurityStack {
  services: Record<string, RunningService<unknown>>;
  /** Every route each upstream service registered in its setup (HEAD twins left out). */
  routes: Record<string, RegisteredRoute[]>;
  /** The GATEWAY_ROUTES built from the manifests, pointing at this stack. */
  gatewayRoutes: ReturnType<typeof gatewayRoutes>;
  /** Starts a gateway in front of the upstreams; closed with the stack. */
  startGateway(env?: Record<string, string>): Promise<RunningService<unknown>>;
  close(): Promise<void>;
}

type AnyDefinition = Parameters<typeof startService>[0];

/** The definition, with an onRoute hook that records what its setup registers. */
function recording(definition: AnyDefinition, into: RegisteredRoute[]): AnyDefinition {
  return {
    ...definition,
    setup: (context) => {
      context.app.addHook('onRoute', (route) => {
        for (const method of [route.method].flat()) if (method !== 'HEAD') into.push({ method, url: route.url });
      });
      return definition.setup(context);
    },
  };
}

export async function startSecurityStack(): Promise<SecurityStack> {
  const topicPrefix = `sec${uniqueSuffix()}.`;
  const env = (name: string, extra: Record<string, string> = {}) => testEnv(name, { topicPrefix, extra });
  const definitions: Record<string, unknown> = {
    users: usersService,
    'data-processing': dataProcessingService,
    notifications: notificationsService,
    analytics: analyticsService,
  };
  const services: Record<string, RunningService<unknown>> = {};
  const routes: Record<string, RegisteredRoute[]> = {};
  const gateways: Array<RunningService<unknown>> = [];
  try {
    await Promise.all(
      Object.entries(definitions).map(async ([name, definition]) => {
        routes[name] = [];
        // The fuzz and OpenAPI suites sign up hundreds of users from one address: the public
        // routes' limits are the attack suite's subject (attacks.test.ts), not theirs.
        const extra: Record<string, string> = name === 'users' ? { PUBLIC_LIMIT_PER_ADDRESS: '1000000', PUBLIC_LIMIT_PER_USERNAME: '1000000' } : {};
        services[name] = (await startService(recording(definition as AnyDefinition, routes[name]), { env: env(name, extra) })) as RunningService<unknown>;
      }),
    );
    await Promise.all(Object.values(services).map((service) => service.consumersReady));
  } catch (error) {
    await Promise.allSettled(Object.values(services).map((service) => service.close()));
    throw error;
  }
  const manifests = await loadManifests(join(import.meta.dirname, '../../services'));
  const routesConfig = gatewayRoutes(manifests, (name) => [services[name]!.url]);
  return {
    services,
    routes,
    gatewayRoutes: routesConfig,
    startGateway: async (extra = {}) => {
      const gateway = (await startService(gatewayService, {
        env: env('gateway', { GATEWAY_ROUTES: JSON.stringify(routesConfig), RATE_LIMIT_PER_SECOND: '1000000', ...extra }),
      })) as RunningService<unknown>;
      gateways.push(gateway);
      return gateway;
    },
    close: async () => {
      await Promise.allSettled(gateways.map((gateway) => gateway.close()));
      await Promise.allSettled(Object.values(services).map((service) => service.close()));
    },
  };
}
