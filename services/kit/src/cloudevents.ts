import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** A CloudEvents 1.0 event in JSON structured mode. */
export const cloudEventSchema = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  time: z.iso.datetime({ offset: true }).optional(),
  subject: z.string().optional(),
  datacontenttype: z.string().optional(),
  data: z.unknown().optional(),
  traceparent: z.string().optional(),
});

export type CloudEvent<Data = unknown> = Omit<z.infer<typeof cloudEventSchema>, 'data'> & { data?: Data };

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

export interface NewEvent<Data> {
  type: string;
  source: string;
  /** The aggregate the event is about; also the Kafka key, so one entity's events stay ordered. */
  subject: string;
  data: Data;
  id?: string;
  time?: Date | string;
}

export function createCloudEvent<Data>(event: NewEvent<Data>): CloudEvent<Data> & { subject: string; time: string } {
  return {
    specversion: '1.0',
    id: event.id ?? randomUUID(),
    source: event.source,
    type: event.type,
    time: event.time instanceof Date ? event.time.toISOString() : (event.time ?? new Date().toISOString()),
    subject: event.subject,
    datacontenttype: 'application/json',
    data: event.data,
  };
}

export class InvalidCloudEventError extends Error {
  override readonly name = 'InvalidCloudEventError';
}

const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/** The dotted path of the first string or key that is not well-formed Unicode, or undefined. */
function unpairedSurrogateAt(root: unknown): string | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value: root, path: '' }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'string') {
      if (!value.isWellFormed()) return path;
    } else if (value !== null && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        const at = path ? `${path}.${key}` : key;
        if (!key.isWellFormed()) return at;
        stack.push({ value: inner, path: at });
      }
    }
  }
  return undefined;
}

/** Parses a Kafka message value as a CloudEvent; throws InvalidCloudEventError saying why not. */
export function parseCloudEvent(value: Buffer | string | null): CloudEvent {
  if (value === null) throw new InvalidCloudEventError('empty message value');
  // JSON text is UTF-8; decoding bad bytes would quietly turn them into U+FFFD.
  if (typeof value !== 'string' && !isUtf8(value)) throw new InvalidCloudEventError('value is not valid UTF-8');
  const text = typeof value === 'string' ? value : value.toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidCloudEventError('value is not JSON');
  }
  // UTF-8 cannot carry a lone surrogate, but a JSON escape can (\ud800); such a string is not text.
  if (text.includes('\\u') && SURROGATE_ESCAPE.test(text)) {
    const where = unpairedSurrogateAt(json);
    if (where !== undefined) throw new InvalidCloudEventError(`${where || 'value'} contains an unpaired UTF-16 surrogate, which is not Unicode text`);
  }
  const result = cloudEventSchema.safeParse(json);
  if (!result.success) {
    const reasons = result.error.issues.map((issue) => `${issue.path.join('.') || 'event'}: ${issue.message}`);
    throw new InvalidCloudEventError(`not a CloudEvent 1.0: ${reasons.join('; ')}`);
  }
  return result.data;
}
