/**
 * The five services started in this process against the run's real Kafka and PostgreSQL,
 * sharing one topic prefix, each in its own schema, the gateway routed from the manifests.
 */
import { join } from 'node:path';
import { startService, type RunningService } from '@msctl/kit';
import { testEnv, uniqueSuffix } from '@msctl/kit/testing';
import { analyticsService } from '../../services/analytics/src/service';
import { dataProcessingService } from '../../services/data-processing/src/service';
import { gatewayService } from '../../services/gateway/src/service';
import { notificationsService } from '../../services/notifications/src/service';
import { usersService } from '../../services/users/src/service';
import { gatewayRoutes, loadManifests } from '../../src/stack/manifest';

export interface TestStack {
  gateway: RunningService<unknown>;
  services: Record<string, RunningService<unknown>>;
  topicPrefix: string;
  close(): Promise<void>;
}

export async function startTestStack(extra: Record<string, string> = {}): Promise<TestStack> {
  const topicPrefix = `e2e${uniqueSuffix()}.`;
  const env = (name: string) => testEnv(name, { topicPrefix, extra });
  const started: Record<string, RunningService<unknown>> = {};
  const definitions = {
    users: usersService,
    'data-processing': dataProcessingService,
    notifications: notificationsService,
    analytics: analyticsService,
  } as const;
  const services = await Promise.all(
    Object.entries(definitions).map(async ([name, definition]) => {
      const running = (await startService(definition as Parameters<typeof startService>[0], { env: env(name) })) as RunningService<unknown>;
      started[name] = running;
      return running;
    }),
  );
  await Promise.all(services.map((service) => service.consumersReady));
  const manifests = await loadManifests(join(import.meta.dirname, '../../services'));
  const routes = gatewayRoutes(manifests, (name) => [started[name]!.url]);
  const gateway = (await startService(gatewayService, {
    env: { ...env('gateway'), GATEWAY_ROUTES: JSON.stringify(routes), RATE_LIMIT_PER_SECOND: '1000' },
  })) as RunningService<unknown>;
  return {
    gateway,
    services: started,
    topicPrefix,
    close: async () => {
      await gateway.close();
      await Promise.allSettled(Object.values(started).map((service) => service.close()));
    },
  };
}
