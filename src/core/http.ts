/**
 * The HTTP calls msctl's own processes make to the services: the dashboard's polls (ten a
 * second), the supervisor's health checks (every service, all the time) and its routing tables
 * for the gateway. Plain node:http: the global fetch (undici) costs several times more per call
 * in web streams, clones and timers, which was a large part of the dashboard's CPU and of the
 * supervisor's, and loading it at all held a few MB more in the supervisor.
 */
import { Agent, request } from 'node:http';

export interface HttpAnswer {
  ok: boolean;
  status: number;
  text(): Promise<string>;
}

/** The little of fetch that a poll of a service needs. */
export type FetchLike = (url: string, init: { signal: AbortSignal; headers?: Record<string, string> }) => Promise<HttpAnswer>;

export interface HttpCall {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  agent?: Agent;
}

/** One request, its whole answer read; rejects on a network error or the signal, not on a status. */
export function httpCall(url: string | URL, call: HttpCall): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      url,
      { method: call.method ?? 'GET', signal: call.signal, ...(call.agent ? { agent: call.agent } : {}), ...(call.headers ? { headers: call.headers } : {}) },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ ok: status >= 200 && status < 300, status, text: async () => body });
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(call.body);
  });
}

export function keepAliveGet(): FetchLike & { close(): void } {
  // One connection per service and endpoint: /health and /metrics are asked at the same time.
  const agent = new Agent({ keepAlive: true, maxSockets: 2, maxFreeSockets: 2 });
  const getText: FetchLike = (url, init) => httpCall(url, { signal: init.signal, agent, ...(init.headers ? { headers: init.headers } : {}) });
  return Object.assign(getText, { close: () => agent.destroy() });
}
