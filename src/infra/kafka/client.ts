/** The CLI's access to a Kafka cluster (kafkajs lives here; the services have theirs in services/kit). */
import kafkajs, { type Producer } from 'kafkajs';

// kafkajs is CommonJS: Node's ESM loader sees only some of its exports by name, so take them from the default export.
const { AssignerProtocol, ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
type Kafka = InstanceType<typeof Kafka>;
import { MsctlError } from '../../core/errors';

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

// ---------------------------------------------------------------------------------------------
// The CLI's Kafka client for `msctl topics`: admin look-ups, a producer, and a group-less reader.
// ---------------------------------------------------------------------------------------------

/** A record as read from a partition (offsets and timestamps fit a JS number). */
export interface FetchedRecord {
  offset: number;
  /** Milliseconds since the epoch (create time or log-append time). */
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  /** Header values; a repeated header name holds an array, in order. */
  headers: Record<string, Buffer | Buffer[] | undefined>;
}

/** What one fetch returned for one partition. */
export interface FetchedBatch {
  topic: string;
  partition: number;
  records: FetchedRecord[];
  /** The partition's high watermark when the broker answered. */
  highWatermark: number;
}

export interface ReadPosition {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: number;
  /** Stop before this offset (exclusive); undefined: follow for ever. */
  until?: number;
}

export interface PartitionInfo {
  partition: number;
  leader: number;
  replicas: number[];
  isr: number[];
  /** Log start offset. */
  low: number;
  /** End offset (high watermark, or last stable offset for read_committed). */
  high: number;
}

export interface TopicInfo {
  name: string;
  partitions: PartitionInfo[];
}

export interface ConfigEntry {
  name: string;
  value: string | null;
  isDefault: boolean;
  readOnly: boolean;
  sensitive: boolean;
}

export interface GroupMember {
  memberId: string;
  clientId: string;
  clientHost: string;
  /** Partitions assigned to the member, per topic (consumer protocol only). */
  assignment: Record<string, number[]>;
}

export interface GroupDescription {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: GroupMember[];
}

export interface CommittedOffsets {
  topic: string;
  /** -1: nothing committed for that partition. */
  partitions: Array<{ partition: number; offset: number }>;
}

export interface OutgoingMessage {
  key: string | Buffer | null;
  value: string | Buffer | null;
  headers?: Record<string, string | Buffer | Array<string | Buffer>>;
  /** Set by the caller (see `partitioner`), so offsets map back to messages. */
  partition: number;
  timestamp?: string;
}

/** Result of one produce call: per partition, the offset of its first message in the batch. */
export interface ProducedPartition {
  partition: number;
  baseOffset: number;
}

/** Reads partitions directly with fetch requests: no consumer group, nothing to clean up. */
export interface PartitionReader {
  /**
   * The next records of every partition still to read. Resolves to null when every partition
   * reached its `until` offset. Follows otherwise (an empty array after a quiet wait).
   */
  next(): Promise<FetchedBatch[] | null>;
  close(): Promise<void>;
}

/** Everything `msctl topics` needs from Kafka (the core is tested against it for real and with fakes). */
export interface TopicsKafka {
  readonly brokers: string[];
  listTopics(): Promise<string[]>;
  describeTopics(topics: string[]): Promise<TopicInfo[]>;
  topicConfigs(topic: string): Promise<ConfigEntry[]>;
  /** Per partition: the first offset whose timestamp is ≥ `timestamp` (the end offset when none is). */
  offsetsForTime(topic: string, timestamp: number): Promise<Map<number, number>>;
  listGroups(): Promise<Array<{ groupId: string; protocolType: string }>>;
  describeGroups(groupIds: string[]): Promise<GroupDescription[]>;
  committedOffsets(groupId: string): Promise<CommittedOffsets[]>;
  /** Commits these offsets for a group (which must have no members). */
  setOffsets(groupId: string, topic: string, partitions: Array<{ partition: number; offset: number }>): Promise<void>;
  /** Which partition a message goes to: Java-compatible murmur2 on the key, round robin without. */
  partitioner(topic: TopicInfo): (key: Buffer | string | null) => number;
  produce(topic: string, messages: OutgoingMessage[]): Promise<ProducedPartition[]>;
  reader(positions: ReadPosition[], options?: { maxWaitMs?: number }): Promise<PartitionReader>;
  close(): Promise<void>;
}

// kafkajs internals the reader uses (kafkajs 2.2.4; its consumer does the same calls).
interface InternalBroker {
  fetch(request: {
    replicaId?: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{
    responses: Array<{
      topicName: string;
      partitions: Array<{
        partition: number;
        highWatermark: string;
        lastStableOffset?: string;
        abortedTransactions?: Array<{ producerId: string; firstOffset: string }>;
        messages: Array<{
          offset: string;
          timestamp: string;
          key: Buffer | null;
          value: Buffer | null;
          headers: Record<string, Buffer | Buffer[]>;
          isControlRecord?: boolean;
          batchContext?: { producerId?: string; inTransaction?: boolean };
        }>;
      }>;
    }>;
  }>;
}
interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  addMultipleTargetTopics(topics: string[]): Promise<void>;
  findLeaderForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  findBroker(args: { nodeId: string }): Promise<InternalBroker>;
  fetchTopicsOffset(
    topics: Array<{ topic: string; fromBeginning: boolean; partitions: Array<{ partition: number }> }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}

const READ_COMMITTED = 1;
/**
 * Fetch sizes of the reader. Small enough that one answer's decoded records stay in V8's young
 * generation (large fetches made tail spend ~40 % of its time in GC), large enough to amortise
 * the round trip. (The broker still returns a whole record batch larger than this.)
 */
const PARTITION_FETCH_BYTES = Number(process.env.MSCTL_FETCH_PARTITION_BYTES) || 1 << 20;
const FETCH_BYTES = Number(process.env.MSCTL_FETCH_BYTES) || 4 << 20;
/** Errors after which the reader refreshes metadata and asks the (new) leader again. */
const STALE_METADATA = new Set(['NOT_LEADER_FOR_PARTITION', 'NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'UNKNOWN_TOPIC_OR_PARTITION', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NOT_COORDINATOR']);

function isConnectionFailure(error: unknown): boolean {
  for (let e = error as { name?: string; cause?: unknown; code?: string } | undefined, depth = 0; e && depth < 6; e = e.cause as typeof e, depth++) {
    if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSConnectionClosedError' || e.name === 'KafkaJSBrokerNotFound' || e.name === 'KafkaJSRequestTimeoutError') return true;
    if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ETIMEDOUT') return true;
  }
  return false;
}

/** A kafkajs failure as an MsctlError (unreachable broker, unknown topic), or the error as it is. */
export function toMsctlError(error: unknown, brokers: string[]): unknown {
  if (error instanceof MsctlError) return error;
  if (isConnectionFailure(error)) {
    return new MsctlError(
      'KAFKA_UNREACHABLE',
      `cannot reach Kafka at ${brokers.join(', ')}: ${(error as Error).message}`,
      'start the stack with `msctl up`, or point at a broker with --brokers host:port',
      { cause: error },
    );
  }
  return error;
}

/**
 * A client for the CLI: fails fast when the broker does not answer (about 3 s), never hangs.
 * Every call maps connection failures to MsctlError('KAFKA_UNREACHABLE').
 */
export async function connectTopicsKafka(brokers: string[], clientId = 'msctl-topics'): Promise<TopicsKafka> {
  const kafka = new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_500,
    requestTimeout: 15_000,
    retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
  });
  const admin = kafka.admin();
  const guard = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw toMsctlError(error, brokers);
    }
  };
  await guard(() => admin.connect());
  let producer: Producer | undefined;
  let producerReady: Promise<Producer> | undefined;
  const readers = new Set<PartitionReader>();

  const describeTopics = (topics: string[]) =>
    guard(async () => {
      if (topics.length === 0) return [];
      const metadata = await admin.fetchTopicMetadata({ topics });
      // The metadata answer is not in the order asked: offsets are matched by name.
      const offsets = new Map(await Promise.all(metadata.topics.map(async (topic) => [topic.name, await admin.fetchTopicOffsets(topic.name)] as const)));
      return metadata.topics.map((topic): TopicInfo => {
        const byPartition = new Map(offsets.get(topic.name)!.map((o) => [o.partition, o]));
        return {
          name: topic.name,
          partitions: topic.partitions
            .map((p) => ({
              partition: p.partitionId,
              leader: p.leader,
              replicas: p.replicas,
              isr: p.isr,
              low: Number(byPartition.get(p.partitionId)?.low ?? 0),
              high: Number(byPartition.get(p.partitionId)?.high ?? 0),
            }))
            .sort((a, b) => a.partition - b.partition),
        };
      });
    });

  return {
    brokers,
    listTopics: () => guard(() => admin.listTopics()),
    describeTopics,
    topicConfigs: (topic) =>
      guard(async () => {
        const result = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
        return (result.resources[0]?.configEntries ?? [])
          .map((entry) => ({ name: entry.configName, value: entry.configValue, isDefault: entry.isDefault, readOnly: entry.readOnly, sensitive: entry.isSensitive }))
          .sort((a, b) => a.name.localeCompare(b.name));
      }),
    offsetsForTime: (topic, timestamp) =>
      guard(async () => new Map((await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)).map((o) => [o.partition, Number(o.offset)]))),
    listGroups: () => guard(async () => (await admin.listGroups()).groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType }))),
    describeGroups: (groupIds) =>
      guard(async () => {
        if (groupIds.length === 0) return [];
        const { groups } = await admin.describeGroups(groupIds);
        return groups.map((g) => ({
          groupId: g.groupId,
          state: g.state,
          protocolType: g.protocolType,
          protocol: g.protocol,
          members: g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, assignment: decodeAssignment(g.protocolType, m.memberAssignment) })),
        }));
      }),
    committedOffsets: (groupId) =>
      guard(async () =>
        (await admin.fetchOffsets({ groupId })).map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })) })),
      ),
    setOffsets: (groupId, topic, partitions) =>
      guard(() => admin.setOffsets({ groupId, topic, partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })) })),
    partitioner: (topic) => {
      const partition = Partitioners.DefaultPartitioner();
      const partitionMetadata = topic.partitions.map((p) => ({ partitionId: p.partition, leader: p.leader, replicas: p.replicas, isr: p.isr, partitionErrorCode: 0 }));
      return (key) => partition({ topic: topic.name, partitionMetadata, message: { key, value: null } });
    },
    produce: (topic, messages) =>
      guard(async () => {
        producerReady ??= (async () => {
          producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
          await producer.connect();
          return producer;
        })();
        const metadata = await (await producerReady).send({ topic, acks: -1, messages });
        return metadata.map((m) => ({ partition: m.partition, baseOffset: Number(m.baseOffset) }));
      }),
    reader: (positions, options) =>
      guard(async () => {
        const reader = await openReader(kafka, brokers, positions, options?.maxWaitMs ?? 500);
        readers.add(reader);
        return {
          next: () => guard(() => reader.next()),
          close: async () => {
            readers.delete(reader);
            await reader.close();
          },
        };
      }),
    close: async () => {
      await Promise.allSettled([...readers].map((r) => r.close()));
      await Promise.allSettled([admin.disconnect(), producer?.disconnect()]);
    },
  };
}

function decodeAssignment(protocolType: string, buffer: Buffer): Record<string, number[]> {
  if (protocolType !== 'consumer' || !buffer || buffer.length === 0) return {};
  try {
    const decoded = AssignerProtocol.MemberAssignment.decode(buffer);
    return (decoded?.assignment ?? {}) as Record<string, number[]>;
  } catch {
    return {};
  }
}

function createCluster(kafka: Kafka): InternalCluster {
  const symbol = Object.getOwnPropertySymbols(kafka).find((s) => s.description === 'private:Kafka:createCluster');
  const create = symbol && (kafka as unknown as Record<symbol, unknown>)[symbol];
  if (typeof create !== 'function') {
    throw new MsctlError('INTERNAL', 'this kafkajs version does not expose its cluster (msctl needs kafkajs 2.2.x)', 'reinstall with `npm ci`');
  }
  return (create as (options: object) => InternalCluster)({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

interface Cursor extends ReadPosition {
  done: boolean;
}

/**
 * The group-less reader: fetch requests straight to each partition's leader, like a consumer
 * with assign(). The next fetch is sent as soon as the previous one answered, so decoding and
 * printing one batch overlaps with the broker serving the next.
 */
async function openReader(kafka: Kafka, brokers: string[], positions: ReadPosition[], maxWaitMs: number): Promise<PartitionReader> {
  const cluster = createCluster(kafka);
  await cluster.connect();
  const cursors: Cursor[] = positions.map((p) => ({ ...p, done: p.until !== undefined && p.offset >= p.until }));
  await cluster.addMultipleTargetTopics([...new Set(positions.map((p) => p.topic))]);
  let closed = false;
  let pending: Promise<FetchedBatch[] | null> | undefined;
  let failures = 0;

  /** Live cursors grouped by leader node id. */
  const byLeader = (): Map<string, Cursor[]> => {
    const groups = new Map<string, Cursor[]>();
    const live = cursors.filter((c) => !c.done);
    for (const topic of new Set(live.map((c) => c.topic))) {
      const mine = live.filter((c) => c.topic === topic);
      const leaders = cluster.findLeaderForPartitions(topic, mine.map((c) => c.partition));
      for (const [nodeId, partitions] of Object.entries(leaders)) {
        const list = groups.get(nodeId) ?? [];
        for (const partition of partitions) list.push(mine.find((c) => c.partition === partition)!);
        groups.set(nodeId, list);
      }
    }
    return groups;
  };

  const fetchFrom = async (nodeId: string, list: Cursor[]): Promise<FetchedBatch[]> => {
    const broker = await cluster.findBroker({ nodeId });
    const topics = [...new Set(list.map((c) => c.topic))].map((topic) => ({
      topic,
      partitions: list.filter((c) => c.topic === topic).map((c) => ({ partition: c.partition, fetchOffset: String(c.offset), maxBytes: PARTITION_FETCH_BYTES })),
    }));
    let response: Awaited<ReturnType<typeof broker.fetch>>;
    try {
      response = await broker.fetch({ replicaId: -1, isolationLevel: READ_COMMITTED, maxWaitTime: maxWaitMs, minBytes: 1, maxBytes: FETCH_BYTES, topics });
    } catch (error) {
      const e = error as { type?: string; name?: string; topic?: string; partition?: number };
      if (e.name === 'KafkaJSOffsetOutOfRange' || e.type === 'OFFSET_OUT_OF_RANGE') {
        // Retention removed what we were about to read: continue from the log start.
        const cursor = list.find((c) => c.topic === e.topic && c.partition === e.partition) ?? list[0]!;
        const [earliest, latest] = await Promise.all(
          [true, false].map(async (fromBeginning) =>
            Number((await cluster.fetchTopicsOffset([{ topic: cursor.topic, fromBeginning, partitions: [{ partition: cursor.partition }] }]))[0]?.partitions[0]?.offset ?? 0),
          ),
        );
        cursor.offset = cursor.offset < earliest! ? earliest! : latest!;
        if (cursor.until !== undefined && cursor.offset >= cursor.until) cursor.done = true;
        return [];
      }
      throw error;
    }
    const batches: FetchedBatch[] = [];
    for (const { topicName, partitions } of response.responses) {
      for (const data of partitions) {
        const cursor = list.find((c) => c.topic === topicName && c.partition === data.partition);
        if (!cursor) continue;
        const from = cursor.offset;
        const until = cursor.until ?? Number.POSITIVE_INFINITY;
        const aborted = abortedTracker(data.abortedTransactions);
        const records: FetchedRecord[] = [];
        let next = from;
        for (const m of data.messages) {
          const offset = Number(m.offset);
          if (offset < from) continue;
          if (offset >= until) break;
          next = offset + 1;
          if (aborted ? aborted(m, offset) : m.isControlRecord) continue;
          records.push({ offset, timestamp: Number(m.timestamp), key: m.key, value: m.value, headers: m.headers });
        }
        cursor.offset = next;
        if (cursor.offset >= until) cursor.done = true;
        batches.push({ topic: topicName, partition: data.partition, records, highWatermark: Number(data.highWatermark) });
      }
    }
    return batches;
  };

  const fetchRound = async (): Promise<FetchedBatch[] | null> => {
    for (;;) {
      if (closed) return [];
      if (cursors.every((c) => c.done)) return null;
      try {
        const groups = byLeader();
        const results = await Promise.all([...groups].map(([nodeId, list]) => fetchFrom(nodeId, list)));
        failures = 0;
        return results.flat();
      } catch (error) {
        const e = error as { type?: string; name?: string };
        const stale = (e.type && STALE_METADATA.has(e.type)) || e.name === 'KafkaJSTopicMetadataNotLoaded' || e.name === 'KafkaJSBrokerNotFound' || e.name === 'KafkaJSError';
        if (!stale || ++failures > 5) throw toMsctlError(error, brokers);
        await new Promise((resolve) => setTimeout(resolve, 200 * failures));
        await cluster.refreshMetadata().catch(() => undefined);
      }
    }
  };

  return {
    next: async () => {
      const current = pending ?? fetchRound();
      pending = undefined;
      const result = await current;
      // Prefetch: ask for the next batch now, while the caller prints this one.
      if (result !== null && !closed && !cursors.every((c) => c.done)) {
        pending = fetchRound();
        pending.catch(() => undefined);
      }
      return result;
    },
    close: async () => {
      closed = true;
      await pending?.catch(() => undefined);
      await cluster.disconnect().catch(() => undefined);
    },
  };
}

/**
 * read_committed: hides records of aborted transactions, as kafkajs' consumer does. Walking the
 * records in order, a producer is "aborting" from its aborted transaction's first offset until
 * its abort marker (a control record). Returns true for records to skip (control records too).
 */
function abortedTracker(aborted: Array<{ producerId: string; firstOffset: string }> | undefined) {
  if (!aborted || aborted.length === 0) return undefined;
  const pending = aborted.map((a) => ({ producerId: a.producerId, firstOffset: Number(a.firstOffset) })).sort((a, b) => a.firstOffset - b.firstOffset);
  const aborting = new Set<string>();
  return (m: { isControlRecord?: boolean; batchContext?: { producerId?: string; inTransaction?: boolean } }, offset: number): boolean => {
    while (pending.length > 0 && pending[0]!.firstOffset <= offset) aborting.add(pending.shift()!.producerId);
    const producerId = String(m.batchContext?.producerId);
    if (m.isControlRecord) {
      aborting.delete(producerId);
      return true;
    }
    return Boolean(m.batchContext?.inTransaction) && aborting.has(producerId);
  };
}

// ---------------------------------------------------------------------------------------------
// Offsets for the dashboard: end offsets of every (non-internal) topic and committed offsets of
// every consumer group, read in one go with one long-lived admin connection.
// ---------------------------------------------------------------------------------------------

export interface KafkaOffsetsReading {
  topics: Array<{ topic: string; partitions: Array<{ partition: number; low?: number; high: number }> }>;
  groups: Array<{ groupId: string; state?: string; offsets: Array<{ topic: string; partition: number; offset: number }> }>;
}

export interface KafkaOffsetsReader {
  read(): Promise<KafkaOffsetsReading>;
  close(): Promise<void>;
}

/** Connects lazily on the first read; failures reject that read (MsctlError KAFKA_UNREACHABLE when the broker is down). */
export function watchKafkaOffsets(bootstrap: string | string[], clientId = 'msctl-dashboard'): KafkaOffsetsReader {
  const brokers = Array.isArray(bootstrap) ? bootstrap : [bootstrap];
  let client: Promise<TopicsKafka> | undefined;
  const connect = () => {
    client ??= connectTopicsKafka(brokers, clientId).catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  return {
    read: async () => {
      const kafka = await connect();
      const names = (await kafka.listTopics()).filter((name) => !name.startsWith('__'));
      const [topics, groups] = await Promise.all([kafka.describeTopics(names), kafka.listGroups()]);
      const described = new Map((await kafka.describeGroups(groups.map((g) => g.groupId))).map((g) => [g.groupId, g.state]));
      return {
        topics: topics.map((t) => ({ topic: t.name, partitions: t.partitions.map((p) => ({ partition: p.partition, low: p.low, high: p.high })) })),
        groups: await Promise.all(
          groups.map(async (g) => ({
            groupId: g.groupId,
            state: described.get(g.groupId),
            offsets: (await kafka.committedOffsets(g.groupId)).flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset }))),
          })),
        ),
      };
    },
    close: async () => {
      const current = client;
      client = undefined;
      if (current) await (await current.catch(() => undefined))?.close();
    },
  };
}
