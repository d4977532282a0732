/**
 * A GET of a service's /health or /metrics, as the dashboard (ten a second) and the supervisor
 * (every service's health, all the time) make them: plain node:http over kept-alive
 * connections. The global fetch (undici) costs several times more per call in web streams,
 * clones and timers, which was a large part of the dashboard's CPU and of the supervisor's.
 */
import { Agent, get } from 'node:http';

/** The little of fetch that a poll of a service needs. */
export type FetchLike = (url: string, init: { signal: AbortSignal; headers?: Record<string, string> }) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export function keepAliveGet(): FetchLike & { close(): void } {
  // One connection per service and endpoint: /health and /metrics are asked at the same time.
  const agent = new Agent({ keepAlive: true, maxSockets: 2, maxFreeSockets: 2 });
  const getText: FetchLike = (url, init) =>
    new Promise((resolve, reject) => {
      const request = get(url, { agent, signal: init.signal, ...(init.headers ? { headers: init.headers } : {}) }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ ok: status >= 200 && status < 300, status, text: async () => body });
        });
      });
      request.on('error', reject);
    });
  return Object.assign(getText, { close: () => agent.destroy() });
}
