/**
 * How msctl moves a running gateway to new instances without restarting it (blue-green
 * restarts on both runtimes, routes from a changed manifest in `msctl dev`): the whole
 * routing table, versioned by the time it was made so that a later table always wins.
 */
import { CONTROL_ROUTES_PATH, signControlToken } from '../../services/kit/src/auth';
import { httpCall } from '../core/http';
import type { GatewayRouteConfig } from '../stack/manifest';

export async function sendGatewayRoutes(gatewayUrl: string, routes: GatewayRouteConfig[], privateKeyPem: string, version = Date.now()): Promise<void> {
  const response = await httpCall(new URL(CONTROL_ROUTES_PATH, gatewayUrl), {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await signControlToken(privateKeyPem)}` },
    body: JSON.stringify({ version, routes }),
    // The answer waits for the requests in flight to the old instances: a slow one may take its timeout.
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`the gateway answered ${response.status}: ${text.slice(0, 200)}`);
}
