/**
 * msctl's own small OTLP/HTTP trace receiver: `POST /v1/traces` with an
 * ExportTraceServiceRequest in JSON (what @opentelemetry/exporter-trace-otlp-http sends;
 * gzip accepted), stored bounded on disk by SpanWriter. Protobuf is refused with 415 and a
 * message naming the JSON protocol. Listens on 127.0.0.1 only.
 *
 * The local runtime's supervisor runs one and gives every service
 * OTEL_EXPORTER_OTLP_ENDPOINT=<url> (unless the user named another collector).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { spansFromOtlp, type OtlpTraceRequest, type StoredSpan } from './otlp';
import { SpanWriter } from './store';

export interface TraceReceiverOptions {
  /** Where the segments go: `<stateDir>/traces`. */
  dir: string;
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  segmentBytes?: number;
  maxBytes?: number;
  /** Called with each accepted request's spans (after they are written). */
  onSpans?: (spans: StoredSpan[]) => void;
}

export interface TraceReceiver {
  port: number;
  /** The OTLP endpoint base, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** Spans accepted since start. */
  readonly received: number;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;

function reply(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const encoding = String(request.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === 'gzip') return gunzipSync(body);
  if (encoding === 'deflate') return inflateSync(body);
  return body;
}

export async function startTraceReceiver(options: TraceReceiverOptions): Promise<TraceReceiver> {
  const writer = new SpanWriter({ dir: options.dir, segmentBytes: options.segmentBytes, maxBytes: options.maxBytes });
  let received = 0;
  const server = createServer((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method === 'GET' && path === '/health') return reply(response, 200, { status: 'pass', received });
      if (path !== '/v1/traces') return reply(response, 404, { error: `no route ${request.method} ${path}; OTLP traces go to POST /v1/traces` });
      if (request.method !== 'POST') return reply(response, 405, { error: 'POST only' });
      const type = String(request.headers['content-type'] ?? '').toLowerCase();
      if (!type.includes('json')) {
        request.resume();
        return reply(response, 415, {
          error: `unsupported content-type ${type || '(none)'}: this receiver takes OTLP/HTTP JSON (OTEL_EXPORTER_OTLP_PROTOCOL=http/json)`,
        });
      }
      try {
        const parsed = JSON.parse((await readBody(request)).toString('utf8')) as OtlpTraceRequest;
        const spans = spansFromOtlp(parsed);
        await writer.write(spans);
        received += spans.length;
        options.onSpans?.(spans);
        reply(response, 200, {});
      } catch (error) {
        const status = (error as { status?: number }).status ?? (error instanceof SyntaxError ? 400 : 500);
        reply(response, status, { error: (error as Error).message });
      }
    })();
  });
  server.keepAliveTimeout = 10_000;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    get received() {
      return received;
    },
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await writer.flushed();
    },
  };
}
