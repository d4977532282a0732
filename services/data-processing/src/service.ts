import { isUtf8 } from 'node:buffer';
import {
  HttpError,
  INGEST_SCOPE,
  badRequest,
  hasScope,
  requireSubject,
  baseConfigSchema,
  kafkaConfigSchema,
  requireProducer,
  toErrorAnswer,
  toMessage,
  unavailable,
  type CloudEvent,
  type ConsumedRecord,
  type ServiceDefinition,
} from '@msctl/kit';
import { z } from 'zod';
import { DEFAULT_MAX_EVENT_BYTES, enrich, parseIngestBody, parseJsonExactly, rejectionReason } from './events';

const configSchema = baseConfigSchema.extend({
  ...kafkaConfigSchema.shape,
  /** The most events one POST /events batch may hold. */
  MAX_BATCH_SIZE: z.coerce.number().int().positive().default(500),
  /** The largest serialized event accepted, in bytes. */
  MAX_EVENT_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_EVENT_BYTES),
});

export type DataProcessingConfig = z.infer<typeof configSchema>;

export const RAW_TOPIC = 'events.raw';
export const PROCESSED_TOPIC = 'events.processed';
/** Where events.raw records that cannot be processed go (the kit's dead-letter format). */
export const DLQ_TOPIC = 'events.dlq';
export const CONSUMER_GROUP = 'data-processing';

/** Carries the trace context of the consumed message on to what it causes. */
const traceHeaders = (record: ConsumedRecord): Record<string, string> =>
  record.headers.traceparent ? { traceparent: record.headers.traceparent } : {};

export const dataProcessingService: ServiceDefinition<DataProcessingConfig> = {
  name: 'data-processing',
  config: configSchema,
  kafka: { topics: [RAW_TOPIC, PROCESSED_TOPIC, DLQ_TOPIC] },
  setup(context) {
    const { app, config } = context;
    const producer = requireProducer(context);
    const rawTopic = context.topic(RAW_TOPIC);
    const processedTopic = context.topic(PROCESSED_TOPIC);

    // The server's JSON parser, plus: a body that is not UTF-8 is refused (decoding would turn
    // its bad bytes into U+FFFD), and a number a double cannot hold as written (1e400,
    // 12345678901234567890) is kept as such, so that ingest can name it and refuse it.
    const json = app.getDefaultJsonParser('error', 'error');
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      if (!isUtf8(body as Buffer)) return done(badRequest('the body is not valid UTF-8: JSON text must be'), undefined);
      const text = (body as Buffer).toString('utf8');
      json(request, text, (error, value) => {
        if (error) return done(error, undefined);
        done(null, parseJsonExactly(text, () => value));
      });
    });

    app.post('/events', async (request, reply) => {
      const caller = requireSubject(request);
      const parsed = parseIngestBody(request.body, {
        maxBatchSize: config.MAX_BATCH_SIZE,
        maxEventBytes: config.MAX_EVENT_BYTES,
        owner: hasScope(request.caller?.scope, INGEST_SCOPE) ? undefined : caller,
      });
      if (!parsed.ok) {
        throw new HttpError(
          parsed.status,
          parsed.status === 413 ? 'payload_too_large' : parsed.status === 403 ? 'forbidden' : 'bad_request',
          parsed.message,
          parsed.invalid ? { invalid: parsed.invalid } : undefined,
        );
      }
      const traceparent = request.headers.traceparent;
      try {
        // Resolves only once every in-sync replica has the events (acks=all).
        // Each event goes as the JSON text its size was checked on: serialized once.
        const headers = typeof traceparent === 'string' ? { traceparent } : undefined;
        await producer.send(rawTopic, parsed.events.map((event, i) => toMessage(event, headers, parsed.values[i])));
      } catch (error) {
        // Nothing is answered 2xx unless Kafka acknowledged it: every produce failure is a 503.
        if (toErrorAnswer(error).status === 503) throw error;
        request.log.warn({ err: error }, 'events.raw did not acknowledge');
        throw unavailable('Kafka did not acknowledge the events; try again later', 2);
      }
      return reply.status(202).send({ accepted: parsed.events.length, ids: parsed.events.map((event) => event.id) });
    });

    context.consume({
      group: CONSUMER_GROUP,
      topics: [RAW_TOPIC],
      deadLetter: { topic: () => DLQ_TOPIC },
      handleBatch: async (records) => {
        const now = new Date().toISOString();
        const processed: Array<{ event: CloudEvent; record: ConsumedRecord }> = [];
        const rejected: Array<{ record: ConsumedRecord; reason: string }> = [];
        for (const record of records) {
          const reason = rejectionReason(record, config.MAX_EVENT_BYTES);
          if (reason !== undefined || !record.event) rejected.push({ record, reason: reason ?? 'not a CloudEvent' });
          else processed.push({ event: enrich(record.event, record, now), record });
        }
        const byId = new Map(processed.map((item) => [item.event.id, traceHeaders(item.record)]));
        // Offsets are committed once events.processed acknowledged; the rejected go to events.dlq.
        await producer.sendEvents(processedTopic, processed.map((p) => p.event), (event) => byId.get(event.id) ?? {});
        return { rejected };
      },
    });
  },
};
