/**
 * The producer after a send whose outcome is unknown. A fake broker does what Kafka does with
 * an idempotent producer: it keeps the last sequence per producer id and partition, appends a
 * batch with the next sequence, and acknowledges a batch whose sequence it already has as a
 * duplicate, without appending it. The fake client hands a failed batch's sequence out again,
 * as kafkajs does.
 */
import type { Kafka, Producer, ProducerBatch } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../src/circuit-breaker';
import { EventProducer } from '../src/kafka';
import { ServiceMetrics } from '../src/metrics';

class FakeBroker {
  readonly log: string[] = [];
  /** Per producer id, the (first, last) sequences of the batches it appended. */
  private readonly batches = new Map<number, Array<[number, number]>>();
  private nextProducerId = 1;
  /** The next append is written, then its answer is lost (the connection closes). */
  loseNextAnswer = false;

  initProducerId(): number {
    return this.nextProducerId++;
  }

  produce(producerId: number, firstSequence: number, values: string[]): void {
    const lastSequence = firstSequence + values.length - 1;
    const appended = this.batches.get(producerId) ?? [];
    // A batch it has appended already is acknowledged again, and not written twice.
    if (appended.some(([first, last]) => first === firstSequence && last === lastSequence)) return;
    const expected = (appended.at(-1)?.[1] ?? -1) + 1;
    if (firstSequence !== expected) throw Object.assign(new Error('out of order sequence number'), { name: 'KafkaJSProtocolError', type: 'OUT_OF_ORDER_SEQUENCE_NUMBER' });
    this.log.push(...values);
    this.batches.set(producerId, [...appended, [firstSequence, lastSequence]]);
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw Object.assign(new Error('Connection closed'), { name: 'KafkaJSConnectionClosedError', retriable: true });
    }
  }
}

function fakeKafka(broker: FakeBroker) {
  const producers: Array<{ id: number | undefined; disconnected: boolean }> = [];
  const kafka = {
    producer: () => {
      const state = { id: undefined as number | undefined, disconnected: false };
      producers.push(state);
      let sequence = 0;
      const producer = {
        connect: async () => {
          state.id = broker.initProducerId();
        },
        disconnect: async () => {
          state.disconnected = true;
        },
        sendBatch: async (batch: ProducerBatch) => {
          const values = (batch.topicMessages ?? []).flatMap((t) => t.messages.map((m) => String(m.value)));
          const first = sequence;
          sequence += values.length;
          try {
            broker.produce(state.id!, first, values);
          } catch (error) {
            sequence = first; // kafkajs rolls the sequence back when a produce request fails
            throw error;
          }
          return [];
        },
      };
      return producer as unknown as Producer;
    },
  };
  return { kafka: kafka as unknown as Kafka, producers };
}

describe('EventProducer after a send that failed', () => {
  it('never reuses the producer: the next messages are written, not taken for duplicates', async () => {
    const broker = new FakeBroker();
    const { kafka, producers } = fakeKafka(broker);
    const circuits = new CircuitRegistry({ timeoutMs: 1_000, resetMs: 1_000, errorThresholdPercent: 100, volumeThreshold: 100 });
    const producer = new EventProducer({ kafka, circuit: circuits.get('kafka'), metrics: new ServiceMetrics('event-producer-test'), lingerMs: 0 });
    const message = (value: string) => ({ key: 'k', value });

    await producer.send('events.raw', [message('a')]);
    broker.loseNextAnswer = true;
    await expect(producer.send('events.raw', [message('b')])).rejects.toThrow('Connection closed');
    // "b" was written although its sender heard a failure. The next message, from another
    // caller, must be written too, and "b" sent again is (a duplicate the consumers drop by id).
    await producer.send('events.raw', [message('c')]);
    await producer.send('events.raw', [message('b')]);

    expect(broker.log).toEqual(['a', 'b', 'c', 'b']);
    expect(producers.map((p) => p.disconnected)).toEqual([true, false]);
    await producer.close();
    circuits.shutdown();
  });
});
