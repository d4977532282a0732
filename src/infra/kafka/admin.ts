/** The CLI's access to a Kafka cluster (kafkajs lives here; the services have theirs in services/kit). */
import { Kafka, logLevel } from 'kafkajs';

/** Creates the stack's topics that do not exist yet, each with its partitions; grows too-small ones; readies the group coordinator. */
export async function createStackTopics(bootstrap: string, topics: Array<{ topic: string; partitions: number }>): Promise<void> {
  const kafka = new Kafka({ clientId: 'msctl-supervisor', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((spec) => ({ topic: spec.topic, numPartitions: spec.partitions })) });
    }
    const present = topics.filter((spec) => existing.has(spec.topic));
    if (present.length > 0) {
      const metadata = await admin.fetchTopicMetadata({ topics: present.map((spec) => spec.topic) });
      const grow = present.filter((spec) => (metadata.topics.find((t) => t.name === spec.topic)?.partitions.length ?? 0) < spec.partitions);
      if (grow.length > 0) await admin.createPartitions({ topicPartitions: grow.map((spec) => ({ topic: spec.topic, count: spec.partitions })) });
    }
    // The first consumer group makes the broker create __consumer_offsets; until that is done
    // every service's consumer logs "group coordinator not available". Do it once, here.
    await admin.describeGroups(['msctl-readiness']);
    // Likewise the first idempotent producer waits for the broker to load its producer-id state.
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.disconnect();
  } finally {
    await admin.disconnect();
  }
}

/** True once the broker answers metadata requests and has elected its controller. */
export async function brokerIsReady(bootstrap: string): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'msctl-readiness',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
