/**
 * msctl's own small OTLP/HTTP trace receiver: `POST /v1/traces` with an
 * ExportTraceServiceRequest in protobuf (`application/x-protobuf`, the default of the Go, Java and
 * Python exporters) or JSON (what @opentelemetry/exporter-trace-otlp-http sends), plain, gzip or
 * deflate, stored bounded on disk by SpanWriter. A protobuf request gets its answer in protobuf
 * (ExportTraceServiceResponse, or google.rpc.Status on failure), as the OTLP spec says; a JSON one
 * in JSON.
 *
 * Only the stack's own services may write: every export carries `authorization: Bearer
 * <otlpToken>` (OTEL_EXPORTER_OTLP_HEADERS, see serviceEnvironment), anything else gets 401.
 * Bodies are bounded on the wire and once decompressed, counted while they stream, so a small
 * gzip bomb is refused with 413 long before it could inflate in memory.
 *
 * The local runtime's supervisor runs one on 127.0.0.1; the docker runtime's watcher runs one on
 * the stack network's gateway address.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createInflate } from 'node:zlib';
import { spansFromOtlp, type OtlpTraceRequest, type StoredSpan } from './otlp';
import { decodeTraceRequest, encodeStatus, encodeTraceResponse, ProtobufDecodeError } from './otlp-proto';
import { SpanWriter } from './store';

export interface TraceReceiverOptions {
  /** Where the segments go: `<stateDir>/traces`. */
  dir: string;
  /** The stack's otlpToken: an export must carry `authorization: Bearer <token>`. */
  token: string;
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

/** The most a request may send, compressed or not. */
export const MAX_WIRE_BYTES = 16 * 1024 * 1024;
/**
 * The most a request's body may inflate to. An exporter's batch (1,024 spans at most in the kit)
 * is a few MiB of JSON; far more is a mistake or an attack, and must not be held in memory.
 */
export const MAX_DECODED_BYTES = 16 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** How a request's body is encoded, and so its answer. */
type Format = 'json' | 'protobuf';

/** The OTLP/HTTP content types: `application/x-protobuf` (also `application/protobuf`) or `application/json`. */
function formatOf(contentType: string): Format | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type.includes('json')) return 'json';
  return undefined;
}

/**
 * The answer in the request's own format: JSON (`{}` or `{ error }`), or protobuf (an empty
 * ExportTraceServiceResponse, or google.rpc.Status on failure).
 */
function reply(response: ServerResponse, status: number, body: { error: string } | Record<string, never>, headers: Record<string, string> = {}, format: Format = 'json'): void {
  if (format === 'protobuf') {
    response.writeHead(status, { 'content-type': 'application/x-protobuf', ...headers });
    response.end(status === 200 ? encodeTraceResponse() : encodeStatus(status, 'error' in body ? body.error : ''));
    return;
  }
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

/** Passes bytes through, failing with 413 once more than `limit` went by. */
function byteLimit(limit: number, what: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) return callback(new HttpError(413, `${what} larger than ${limit} bytes`));
      callback(null, chunk);
    },
  });
}

function decoderFor(encoding: string): Transform | undefined {
  if (encoding === '' || encoding === 'identity') return undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') return createGunzip();
  if (encoding === 'deflate') return createInflate();
  throw new HttpError(415, `unsupported content-encoding ${encoding}: send gzip, deflate or none`);
}

/**
 * The decoded body, streamed through zlib and counted on both sides of it: neither the wire
 * bytes nor the inflated ones ever exceed their limit in memory.
 */
async function readBody(request: IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_WIRE_BYTES) throw new HttpError(413, `request body larger than ${MAX_WIRE_BYTES} bytes`);
  const decoder = decoderFor(String(request.headers['content-encoding'] ?? '').trim().toLowerCase());
  const chunks: Buffer[] = [];
  const collect = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) chunks.push(chunk);
  };
  const wire = byteLimit(MAX_WIRE_BYTES, 'request body');
  const decoded = byteLimit(MAX_DECODED_BYTES, 'decompressed request body');
  // Piped rather than part of the pipeline, so that a failure does not destroy the request (and
  // its socket) before the 413 is sent.
  request.once('close', () => {
    if (!request.complete) wire.destroy(new Error('the client went away before the body ended'));
  });
  request.pipe(wire);
  try {
    if (decoder) await pipeline(wire, decoder, decoded, collect);
    else await pipeline(wire, decoded, collect);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // zlib's own errors: the body is not what its content-encoding says.
    if ((error as NodeJS.ErrnoException).code?.startsWith('Z_')) throw new HttpError(400, `bad ${request.headers['content-encoding']} body: ${(error as Error).message}`);
    throw error;
  }
  return Buffer.concat(chunks);
}

/** Whether the request carries the stack's token; compared in constant time, digests of equal length. */
function authorized(request: IncomingMessage, expected: Buffer): boolean {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) return false;
  return timingSafeEqual(createHash('sha256').update(match[1]!).digest(), expected);
}

export async function startTraceReceiver(options: TraceReceiverOptions): Promise<TraceReceiver> {
  if (!options.token) throw new Error('the trace receiver needs the stack token');
  const expected = createHash('sha256').update(options.token).digest();
  const writer = new SpanWriter({ dir: options.dir, segmentBytes: options.segmentBytes, maxBytes: options.maxBytes });
  let received = 0;
  const server = createServer((request, response) => {
    void (async () => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method === 'GET' && path === '/health') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return response.end(JSON.stringify({ status: 'pass', received }));
      }
      if (path !== '/v1/traces') return reply(response, 404, { error: `no route ${request.method} ${path}; OTLP traces go to POST /v1/traces` });
      if (request.method !== 'POST') return reply(response, 405, { error: 'POST only' });
      const type = String(request.headers['content-type'] ?? '');
      const format = formatOf(type);
      // Refused before the body is read: an unknown sender costs no more than its headers.
      if (!authorized(request, expected)) {
        return refuse(request, response, 401, { error: 'this receiver takes spans from its own stack only (authorization: Bearer <token>)' }, { 'www-authenticate': 'Bearer' }, format);
      }
      if (!format) {
        return refuse(request, response, 415, {
          error: `unsupported content-type ${type || '(none)'}: this receiver takes OTLP/HTTP protobuf (application/x-protobuf) or JSON (application/json)`,
        });
      }
      try {
        const body = await readBody(request);
        const parsed = format === 'protobuf' ? decodeTraceRequest(body) : (JSON.parse(body.toString('utf8')) as OtlpTraceRequest);
        const spans = spansFromOtlp(parsed);
        await writer.write(spans);
        received += spans.length;
        options.onSpans?.(spans);
        reply(response, 200, {}, {}, format);
      } catch (error) {
        const status = error instanceof HttpError ? error.status : error instanceof SyntaxError || error instanceof ProtobufDecodeError ? 400 : 500;
        if (request.readableEnded) reply(response, status, { error: (error as Error).message }, {}, format);
        else refuse(request, response, status, { error: (error as Error).message }, {}, format);
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
      await writer.close();
    },
  };
}

/** How long a refused request's socket stays open while its client is still sending the body. */
const LINGER_MS = 2_000;

/**
 * Answers a request whose body is not (all) read, then lingers: the rest of the body is read and
 * dropped (never kept) for LINGER_MS, and only then is the socket closed. Closing at once would
 * reset a connection the client is still writing to, and a reset can destroy the answer before
 * the client reads it (a client sees EPIPE, not the 413).
 */
function refuse(request: IncomingMessage, response: ServerResponse, status: number, body: { error: string }, headers: Record<string, string> = {}, format: Format = 'json'): void {
  request.unpipe();
  request.resume();
  reply(response, status, body, headers, format);
  if (request.complete) return;
  const socket = request.socket;
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  request.once('end', () => clearTimeout(timer));
}
