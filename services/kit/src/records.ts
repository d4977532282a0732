/** The shapes of Kafka messages as the kit's producer takes them and its consumers hand them out. */
import type { CloudEvent } from './cloudevents';

export interface OutgoingMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer | Buffer[]>;
}

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: string;
  /** The key as UTF-8 text (null when there is none). */
  key: string | null;
  /** Header values as text; `traceparent` is rewritten to the consume span (tracing-kafka.ts). */
  headers: Record<string, string>;
  value: Buffer | null;
  timestamp: string;
  /** The CloudEvent carried by the message, or why the value is not one. */
  event: CloudEvent | undefined;
  invalidReason: string | undefined;
  /** The key and headers as received, byte for byte (what a dead letter keeps). */
  rawKey: Buffer | null;
  rawHeaders: Record<string, Buffer | Buffer[]>;
}
