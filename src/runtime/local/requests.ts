/**
 * What the supervisor accepts on its control socket. Names become log file paths and lookups,
 * counts become processes: the supervisor checks them itself rather than trust its client, and
 * refuses a request that names anything outside this stack before it changes anything.
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { MsctlError } from '../../core/errors';
import type { UpPlan } from '../../stack/plan';
import type { Project } from '../../stack/project';
import { MAX_REPLICAS, instanceIndex, serviceOfInstance } from '../../stack/replicas';

/** A service or infrastructure name, or an instance of a service ("users#2"). */
const TARGET_NAME = /^[a-z][a-z0-9-]*(#[1-9]\d*)?$/;
/** A day: more than any start or stop waits, and a number the timers can hold. */
const MAX_TIMEOUT_SECONDS = 86_400;

export interface ControlRequests {
  up: { plan: UpPlan; timeoutSeconds?: number; replicas?: Record<string, number> };
  restart: { target: string; timeoutSeconds?: number };
  hold: { target: string };
  resume: { target: string; timeoutSeconds?: number };
}

export type ControlRequestSchemas = { [K in keyof ControlRequests]: z.ZodType<ControlRequests[K]> };

export function controlRequestSchemas(project: Project): ControlRequestSchemas {
  const nodes = new Set(project.graph.names);
  const services = new Set(project.manifests.map((manifest) => manifest.name));
  const name = z.string().max(128).regex(TARGET_NAME, 'not a target name');
  const node = name.refine((value) => nodes.has(value), { message: 'not part of this stack' });
  const target = name.refine(
    (value) => (value.includes('#') ? services.has(serviceOfInstance(value)) && instanceIndex(value) <= MAX_REPLICAS : nodes.has(value)),
    { message: 'not part of this stack' },
  );
  const count = z.number().int().min(1).max(MAX_REPLICAS);
  const timeoutSeconds = z.number().positive().max(MAX_TIMEOUT_SECONDS).optional();
  const step = z
    .object({
      target: node,
      kind: z.enum(['infrastructure', 'service']),
      action: z.enum(['start', 'keep', 'recreate', 'scale']),
      instances: z.object({ start: z.array(target).max(MAX_REPLICAS), stop: z.array(target).max(MAX_REPLICAS) }).optional(),
      reason: z.string().max(1_000),
      level: z.number().int().min(0).max(nodes.size),
      needs: z.array(node),
    })
    .refine((value) => nodes.has(value.target) && project.graph.node(value.target).kind === value.kind, { message: 'kind does not match the target' })
    .refine((value) => [...(value.instances?.start ?? []), ...(value.instances?.stop ?? [])].every((instance) => serviceOfInstance(instance) === value.target), {
      message: 'an instance of another service',
    });
  return {
    up: z.object({
      plan: z.object({ requested: z.array(node), steps: z.array(step).max(nodes.size) }),
      timeoutSeconds,
      replicas: z
        .record(z.string(), count)
        .refine((value) => Object.keys(value).every((key) => services.has(key)), { message: 'names a service not in this stack' })
        .optional(),
    }),
    restart: z.object({ target, timeoutSeconds }),
    hold: z.object({ target }),
    resume: z.object({ target, timeoutSeconds }),
  };
}

/** The request body when it is valid, else the reason it is refused (for a 400 reply). */
export function parseControlRequest<K extends keyof ControlRequests>(
  schemas: ControlRequestSchemas,
  kind: K,
  body: unknown,
): { ok: true; value: ControlRequests[K] } | { ok: false; error: string } {
  const result = schemas[kind].safeParse(body);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  return { ok: false, error: `invalid ${kind} request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'refused'}` };
}

/** Larger than any plan of a stack msctl runs; a client sending more is not msctl. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads and checks one control request. Throws USAGE (the supervisor answers 400) for a body
 * that is not JSON, too large, or not a valid `kind` request for this stack.
 */
export async function readControlRequest<K extends keyof ControlRequests>(request: IncomingMessage, schemas: ControlRequestSchemas, kind: K): Promise<ControlRequests[K]> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new MsctlError('USAGE', `invalid ${kind} request: larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : {};
  } catch {
    throw new MsctlError('USAGE', `invalid ${kind} request: not JSON`);
  }
  const parsed = parseControlRequest(schemas, kind, body);
  if (!parsed.ok) throw new MsctlError('USAGE', parsed.error);
  return parsed.value;
}
