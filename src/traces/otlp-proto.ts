/**
 * OTLP/HTTP protobuf (`application/x-protobuf`, the default of the Go, Java and Python
 * exporters) decoded into the same shape as OTLP/JSON, so spansFromOtlp reads both. The message
 * definitions are the official opentelemetry-proto files (./proto), parsed by protobufjs on the
 * first protobuf export. protobufjs itself is loaded then too: a stack whose services all send
 * JSON (msctl's own do) never pays for it, in the supervisor's memory (~4 MB) or its start.
 */
import { createRequire } from 'node:module';
import type protobufjs from 'protobufjs';
import serviceProto from './proto/opentelemetry/proto/collector/trace/v1/trace_service.proto?raw';
import commonProto from './proto/opentelemetry/proto/common/v1/common.proto?raw';
import resourceProto from './proto/opentelemetry/proto/resource/v1/resource.proto?raw';
import traceProto from './proto/opentelemetry/proto/trace/v1/trace.proto?raw';
import type { OtlpTraceRequest } from './otlp';

/**
 * What an OTLP/HTTP server answers a protobuf request with when it fails (OTLP spec, "Failures"):
 * google.rpc.Status. Only its code and message, the fields a client reads; `details` is left out.
 */
const statusProto = 'syntax = "proto3"; package google.rpc; message Status { int32 code = 1; string message = 2; }';

interface Messages {
  request: protobufjs.Type;
  response: protobufjs.Type;
  status: protobufjs.Type;
}

let messages: Messages | undefined;

function load(): Messages {
  if (messages) return messages;
  const protobuf = createRequire(import.meta.url)('protobufjs') as typeof protobufjs;
  const root = new protobuf.Root();
  for (const source of [commonProto, resourceProto, traceProto, serviceProto, statusProto]) protobuf.parse(source, root);
  root.resolveAll();
  messages = {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    status: root.lookupType('google.rpc.Status'),
  };
  return messages;
}

/** Thrown when the body is not an ExportTraceServiceRequest: the client's fault (400). */
export class ProtobufDecodeError extends Error {}

/**
 * An ExportTraceServiceRequest from its protobuf bytes, in OTLP/JSON's shape: 64-bit integers as
 * decimal strings, bytes (ids) as base64, enums by name; fields left unset stay absent, so a
 * oneof (AnyValue) has only the member that was sent.
 */
export function decodeTraceRequest(body: Uint8Array): OtlpTraceRequest {
  const { request } = load();
  let message: protobufjs.Message;
  try {
    message = request.decode(body);
  } catch (error) {
    throw new ProtobufDecodeError(`not an OTLP ExportTraceServiceRequest in protobuf: ${(error as Error).message}`);
  }
  return request.toObject(message, { longs: String, bytes: String, enums: String }) as OtlpTraceRequest;
}

/** The success answer: an empty ExportTraceServiceResponse (no partial_success: every span was taken). */
export function encodeTraceResponse(): Uint8Array {
  const { response } = load();
  return response.encode(response.create({})).finish();
}

/** google.rpc.Code for the HTTP status the receiver answers with. */
const RPC_CODES: Record<number, number> = { 400: 3, 401: 16, 413: 8, 415: 3 };
const INTERNAL = 13;

/** A failure's answer to a protobuf client: google.rpc.Status with the message a person reads. */
export function encodeStatus(httpStatus: number, message: string): Uint8Array {
  const { status } = load();
  return status.encode(status.create({ code: RPC_CODES[httpStatus] ?? INTERNAL, message })).finish();
}

/** google.rpc.Status, read back (for tests and clients of this module). */
export function decodeStatus(body: Uint8Array): { code: number; message: string } {
  const { status } = load();
  const decoded = status.toObject(status.decode(body), { defaults: true }) as { code: number; message: string };
  return { code: decoded.code, message: decoded.message };
}
