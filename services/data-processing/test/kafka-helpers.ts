/** A real kafkajs client for tests: produce raw messages, and collect what lands on topics. */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { inject } from 'vitest';
import { randomBytes } from 'node:crypto';

export interface CollectedMessage {
  topic: string;
  key: string | null;
  value: string | null;
  /** The value's bytes as they are on the topic. */
  raw: Buffer | null;
  headers: Record<string, string>;
  json: Record<string, unknown> | undefined;
}

export interface TestKafka {
  producer: Producer;
  /** Everything seen so far on the collected topics. */
  messages: CollectedMessage[];
  send(topic: string, messages: Array<{ key?: string | null; value: string | Buffer }>): Promise<void>;
  close(): Promise<void>;
}

export async function connectTestKafka(collectTopics: string[]): Promise<TestKafka> {
  const kafka = new Kafka({ clientId: 'test', brokers: [inject('kafkaBootstrap')], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const messages: CollectedMessage[] = [];
  let consumer: Consumer | undefined;
  if (collectTopics.length > 0) {
    consumer = kafka.consumer({ groupId: `test-collector-${randomBytes(4).toString('hex')}`, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    const joined = new Promise<void>((resolve) => consumer!.on(consumer!.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topics: collectTopics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        const value = message.value?.toString('utf8') ?? null;
        let json: Record<string, unknown> | undefined;
        try {
          json = value === null ? undefined : (JSON.parse(value) as Record<string, unknown>);
        } catch {
          json = undefined;
        }
        const headers: Record<string, string> = {};
        for (const [name, header] of Object.entries(message.headers ?? {})) headers[name] = String(header);
        messages.push({ topic, key: message.key?.toString('utf8') ?? null, value, raw: message.value, headers, json });
      },
    });
    await joined;
  }
  return {
    producer,
    messages,
    send: async (topic, list) => {
      await producer.send({ topic, acks: -1, messages: list.map((m) => ({ key: m.key ?? null, value: m.value })) });
    },
    close: async () => {
      await consumer?.disconnect();
      await producer.disconnect();
    },
  };
}
