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

/** An event as /events sends it: numbered, so that a client's next stream can start where its last one ended. */
export interface NumberedEvent {
  seq: number;
  event: ProgressEvent;
}

/**
 * The supervisor's recent events, numbered in the order they happened. A client that streamed an
 * operation (`msctl up`) and then streams again (attached, it follows the logs) asks for what came
 * after the last number it saw: a log line written between the two streams is not lost.
 */
export class EventHistory {
  private readonly kept: NumberedEvent[] = [];
  private readonly listeners = new Set<(numbered: NumberedEvent) => void>();
  private last = 0;

  constructor(private readonly keep = 2_000) {}

  record(event: ProgressEvent): void {
    const numbered = { seq: ++this.last, event };
    this.kept.push(numbered);
    // Trimmed in halves: a shift per event would move the whole array each time.
    if (this.kept.length > 2 * this.keep) this.kept.splice(0, this.kept.length - this.keep);
    for (const listener of this.listeners) listener(numbered);
  }

  /** The kept events after `after` (none when undefined), then every new one, until the returned function is called. */
  follow(after: number | undefined, listener: (numbered: NumberedEvent) => void): () => void {
    if (after !== undefined) for (const numbered of this.kept) if (numbered.seq > after) listener(numbered);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

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
  options: { logs?: boolean; signal?: AbortSignal; onConnected?: () => void; after?: number; onSeq?: (seq: number) => void } = {},
): Promise<ProgressEvent | undefined> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (event?: ProgressEvent) => {
      if (settled) return;
      settled = true;
      req.destroy();
      resolve(event);
    };
    const query = new URLSearchParams();
    if (options.logs) query.set('logs', '1');
    if (options.after !== undefined) query.set('after', String(options.after));
    const req = httpRequest({ socketPath: socket, method: 'GET', path: `/events${query.size > 0 ? `?${query}` : ''}` }, (res: IncomingMessage) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let newline: number;
        while ((newline = buffer.indexOf('\n')) !== -1) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (!line) continue;
          const { seq, ...event } = JSON.parse(line) as ProgressEvent & { seq?: number };
          if (typeof seq === 'number') options.onSeq?.(seq);
          // The supervisor's greeting: the subscription is in place, nothing to show.
          if (event.type === 'message' && event.text === SUBSCRIBED) {
            options.onConnected?.();
            continue;
          }
          if (onEvent(event as ProgressEvent) === true) return finish(event as ProgressEvent);
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
