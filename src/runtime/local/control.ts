/**
 * The supervisor's control channel: HTTP over a unix socket in .msctl/ (only this user can
 * reach it). Requests are JSON; /events streams progress events as JSON lines.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { MsctlError } from '../../core/errors';
import type { ProgressEvent } from '../../core/events';

export interface ControlResponse<T> {
  status: number;
  body: T;
}

export function controlRequest<T>(socket: string, method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ControlResponse<T>> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(
      {
        socketPath: socket,
        method,
        path,
        headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : undefined) as T });
          } catch {
            reject(new Error(`the supervisor answered with something that is not JSON: ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new MsctlError('TIMEOUT', `the supervisor did not answer ${method} ${path} within ${timeoutMs} ms`, 'check `msctl status`; if the supervisor hangs, `msctl down` stops the stack')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The first line of every /events stream. */
export const SUBSCRIBED = 'subscribed';

/** True when a supervisor answers on the socket. */
export async function pingSupervisor(socket: string): Promise<boolean> {
  try {
    const response = await controlRequest<{ ok: boolean }>(socket, 'GET', '/ping', undefined, 2_000);
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Streams progress events until `stop` returns true for one of them, the stream ends, or the
 * signal aborts. Resolves with the event that stopped it (undefined otherwise).
 */
export function streamEvents(
  socket: string,
  onEvent: (event: ProgressEvent) => boolean | void,
  options: { logs?: boolean; signal?: AbortSignal; onConnected?: () => void } = {},
): Promise<ProgressEvent | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (event?: ProgressEvent) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(event);
    };
    const req = httpRequest({ socketPath: socket, method: 'GET', path: `/events${options.logs ? '?logs=1' : ''}` }, (res: IncomingMessage) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const event = JSON.parse(line) as ProgressEvent;
          // The supervisor's greeting: the subscription is in place, nothing to show.
          if (event.type === 'message' && event.text === SUBSCRIBED) {
            options.onConnected?.();
            continue;
          }
          if (onEvent(event) === true) return finish(event);
        }
      });
      res.on('end', () => finish());
      res.on('error', () => finish());
    });
    req.on('error', (error) => {
      if (!settled) {
        settled = true;
        reject(error);
      }
    });
    options.signal?.addEventListener('abort', () => finish(), { once: true });
    req.end();
  });
}
