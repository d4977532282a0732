/** The CLI's access to a Kafka cluster (kafkajs lives here; the services have theirs in services/kit). */
import { randomUUID } from 'node:crypto';
import kafkajs, { type Admin, type PartitionAssigner, type Producer } from 'kafkajs';

// kafkajs is CommonJS: Node's ESM loader sees only some of its exports by name, so take them from the default export.
const { AssignerProtocol, ConfigResourceTypes, Kafka, logLevel, Partitioners } = kafkajs;
type Kafka = InstanceType<typeof Kafka>;
import { MsctlError } from '../../core/errors';
import { sleep } from '../../core/sleep';
import { compareNames } from '../../../services/kit/src/order';

/**
 * Creates topics and waits until each of their partitions answers for its offsets, so that
 * whatever comes next (describing them, producing) finds them ready. Not kafkajs's
 * waitForLeaders: that asks for the new topics' metadata at once and fails on the
 * UNKNOWN_TOPIC_OR_PARTITION a broker answers until it has published them, and a leader named in
 * the metadata may still answer NOT_LEADER_OR_FOLLOWER for a moment.
 */
export async function createTopicsAndWait(admin: Pick<Admin, 'createTopics' | 'fetchTopicOffsets'>, topics: Parameters<Admin['createTopics']>[0]['topics'], timeoutMs = 30_000): Promise<void> {
  await admin.createTopics({ topics, waitForLeaders: false });
  const deadline = Date.now() + timeoutMs;
  const answers = async (topic: string) => (await admin.fetchTopicOffsets(topic).catch(() => [])).length > 0;
  for (const { topic } of topics) {
    while (!(await answers(topic))) {
      if (Date.now() > deadline) {
        throw new MsctlError('TIMEOUT', `Kafka created ${topic} but its partitions did not answer within ${timeoutMs / 1000} s`, "look at the broker's log (msctl's own: msctl logs kafka) and try again");
      }
      await sleep(100);
    }
  }
}

/** Creates the stack's topics that do not exist yet, each with its partitions; grows too-small ones; readies the group coordinator. */
export async function createStackTopics(bootstrap: string, topics: Array<{ topic: string; partitions: number }>): Promise<void> {
  const kafka = new Kafka({ clientId: 'msctl-supervisor', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) {
      await createTopicsAndWait(admin, missing.map((spec) => ({ topic: spec.topic, numPartitions: spec.partitions })));
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
// The CLI's Kafka client for `msctl topics`: admin look-ups, a producer, and a reader that commits nothing.
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

/** Reads partitions from given offsets (a consumer of a group of its own, deleted on close; nothing committed). */
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
  /** Creates a topic and waits for its leaders; the broker's refusals (bad config, replication factor) are MsctlError USAGE. */
  createTopic(spec: { topic: string; partitions: number; replicationFactor?: number; configs: Array<{ name: string; value: string }> }): Promise<void>;
  deleteTopics(topics: string[]): Promise<void>;
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

/**
 * Fetch sizes of the reader. Small enough that one answer's decoded records stay in V8's young
 * generation (large fetches made tail spend ~40 % of its time in GC), large enough to amortise
 * the round trip. (The broker still returns a whole record batch larger than this.)
 */
const PARTITION_FETCH_BYTES = Number(process.env.MSCTL_FETCH_PARTITION_BYTES) || 1 << 20;
const FETCH_BYTES = Number(process.env.MSCTL_FETCH_BYTES) || 4 << 20;

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

/** A broker's answer to an admin request it refused (kafkajs' errors carry the protocol error's type and message), as USAGE. */
function brokerRefusal(error: unknown, what: string, hint: string): unknown {
  if (isConnectionFailure(error)) return error;
  const errors = (error as { errors?: unknown[] }).errors ?? [error];
  const refusals = errors.filter((e): e is { type: string; message: string } => typeof (e as { type?: unknown })?.type === 'string');
  if (refusals.length === 0) return error;
  return new MsctlError('USAGE', `${what}: ${refusals.map((e) => `${e.message} (${e.type})`).join('; ')}`, hint, { cause: error });
}

/**
 * A client for the CLI: fails fast when the broker does not answer (about 3 s), never hangs.
 * Every call maps connection failures to MsctlError('KAFKA_UNREACHABLE').
 */
export interface TopicsKafkaOptions {
  /** Told the name of every request the admin sends (kafkajs's request event): what a command costs the broker. */
  onRequest?: (apiName: string) => void;
}

export async function connectTopicsKafka(brokers: string[], clientId = 'msctl-topics', options: TopicsKafkaOptions = {}): Promise<TopicsKafka> {
  const kafka = new Kafka({
    clientId,
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_500,
    requestTimeout: 15_000,
    retry: { retries: 1, initialRetryTime: 200, maxRetryTime: 1_000 },
  });
  const admin = kafka.admin();
  const { onRequest } = options;
  if (onRequest) admin.on(admin.events.REQUEST, (event) => onRequest(event.payload.apiName));
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

  /**
   * kafkajs keeps one metadata for the client: a metadata lookup replaces it with the topics it
   * asked for, and an offset lookup reads the leaders of its topic from it twice. Lookups run
   * side by side (the lag of several groups at once) can so find their topic gone from it, a
   * TypeError inside kafkajs. So the admin's calls take turns.
   */
  let turn: Promise<unknown> = Promise.resolve();
  const adminCall = <T>(work: () => Promise<T>): Promise<T> => {
    const done = turn.then(() => guard(work));
    turn = done.catch(() => undefined);
    return done;
  };

  const describeTopics = (topics: string[]) =>
    adminCall(async () => {
      if (topics.length === 0) return [];
      const metadata = await admin.fetchTopicMetadata({ topics });
      // The metadata answer is not in the order asked: offsets are matched by name.
      const offsets = new Map<string, Awaited<ReturnType<typeof admin.fetchTopicOffsets>>>();
      // Side by side within this call: one after another, each lookup asked the broker for the
      // metadata again first (6 topics: 6 metadata requests; side by side, kafkajs shares one).
      // The metadata they read holds every topic of this call, as no other call runs meanwhile:
      // the call ends once every lookup has, even when one failed.
      const lookups = await Promise.allSettled(metadata.topics.map(async (topic) => offsets.set(topic.name, await admin.fetchTopicOffsets(topic.name))));
      const failed = lookups.find((lookup) => lookup.status === 'rejected');
      if (failed) throw failed.reason;
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
    listTopics: () => adminCall(() => admin.listTopics()),
    describeTopics,
    topicConfigs: (topic) =>
      adminCall(async () => {
        const result = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
        return (result.resources[0]?.configEntries ?? [])
          .map((entry) => ({ name: entry.configName, value: entry.configValue, isDefault: entry.isDefault, readOnly: entry.readOnly, sensitive: entry.isSensitive }))
          .sort((a, b) => compareNames(a.name, b.name));
      }),
    createTopic: (spec) =>
      adminCall(async () => {
        try {
          await createTopicsAndWait(admin, [
            { topic: spec.topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor ?? -1, configEntries: spec.configs },
          ]);
        } catch (error) {
          throw brokerRefusal(error, `cannot create topic '${spec.topic}'`, 'check the names of --config (kafka-configs.sh --describe --all lists them) and that --replication-factor is at most the number of brokers');
        }
      }),
    deleteTopics: (topics) =>
      adminCall(async () => {
        try {
          await admin.deleteTopics({ topics });
        } catch (error) {
          throw brokerRefusal(error, `cannot delete ${topics.join(', ')}`, 'the broker must allow it (delete.topic.enable=true)');
        }
      }),
    offsetsForTime: (topic, timestamp) =>
      adminCall(async () => new Map((await admin.fetchTopicOffsetsByTimestamp(topic, timestamp)).map((o) => [o.partition, Number(o.offset)]))),
    // The readers' own groups (a tail running elsewhere) are msctl's plumbing, not groups a user runs.
    listGroups: () =>
      adminCall(async () =>
        (await admin.listGroups()).groups.filter((g) => !g.groupId.startsWith(READER_GROUP_PREFIX)).map((g) => ({ groupId: g.groupId, protocolType: g.protocolType })),
      ),
    describeGroups: (groupIds) =>
      adminCall(async () => {
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
      adminCall(async () =>
        (await admin.fetchOffsets({ groupId })).map((t) => ({ topic: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, offset: Number(p.offset) })) })),
      ),
    setOffsets: (groupId, topic, partitions) =>
      adminCall(() => admin.setOffsets({ groupId, topic, partitions: partitions.map((p) => ({ partition: p.partition, offset: String(p.offset) })) })),
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
        const reader = await openReader(kafka, admin, positions, options?.maxWaitMs ?? 500);
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

interface Cursor extends ReadPosition {
  done: boolean;
}

/** Consumer groups of readers start with this; the rest is random, so readers never share one. */
export const READER_GROUP_PREFIX = 'msctl-reader-';

/** Hands the only member exactly the partitions the reader was asked for (kafkajs' public assigner interface). */
function exactAssigner(cursors: Cursor[]): PartitionAssigner {
  const name = 'msctl-exact';
  return () => ({
    name,
    version: 0,
    assign: async ({ members }) => {
      const assignment: Record<string, number[]> = {};
      for (const c of cursors) (assignment[c.topic] ??= []).push(c.partition);
      return members.map((member, index) => ({
        memberId: member.memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: 0, assignment: index === 0 ? assignment : {}, userData: Buffer.alloc(0) }),
      }));
    },
    protocol: ({ topics }) => ({ name, metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }) }),
  });
}

/** Waits until the resolver handed to `arm` is called, or `ms` passed (the timer never outlives the wait). */
async function waitAtMost(ms: number, arm: (resolve: () => void) => void): Promise<void> {
  const woken = new AbortController();
  arm(() => woken.abort());
  await sleep(ms, woken.signal);
}

/** How many fetched batches wait for the caller before the consumer stops fetching (backpressure). */
const QUEUED_BATCHES = 4;
/** The fetch wait of a bounded read (see openReader). */
const BOUNDED_WAIT_MS = 50;
/** While the caller is slow, the consumer still heartbeats this often, so the group keeps it. */
const HEARTBEAT_MS = 3_000;

/**
 * The reader: kafkajs has no public group-less consumer (no assign()), so this is a consumer of a
 * group of its own with one member, which an assigner gives exactly the partitions asked for,
 * which seeks to the start offsets on every join and never commits; the group is deleted on
 * close. kafkajs' consumer fetches the next batch while the caller prints this one, and hides
 * records of aborted transactions and control records (read_committed).
 */
async function openReader(kafka: Kafka, admin: Admin, positions: ReadPosition[], maxWaitMs: number): Promise<PartitionReader> {
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const cursors = new Map(positions.map((p): [string, Cursor] => [key(p.topic, p.partition), { ...p, done: p.until !== undefined && p.offset >= p.until }]));
  const live = [...cursors.values()].filter((c) => !c.done);
  if (live.length === 0) return { next: async () => null, close: async () => undefined };
  const groupId = `${READER_GROUP_PREFIX}${randomUUID()}`;
  const consumer = kafka.consumer({
    groupId,
    partitionAssigners: [exactAssigner(live)],
    allowAutoTopicCreation: false,
    readUncommitted: false,
    // A bounded read (every partition has an end) has data until a partition is done and paused; then a
    // long wait only delays the end, as disconnect waits for the fetch in flight.
    maxWaitTimeInMs: live.every((c) => c.until !== undefined) ? Math.min(maxWaitMs, BOUNDED_WAIT_MS) : maxWaitMs,
    minBytes: 1,
    maxBytes: FETCH_BYTES,
    maxBytesPerPartition: PARTITION_FETCH_BYTES,
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 2_000, restartOnFailure: async () => false },
  });
  const queue: FetchedBatch[] = [];
  let failure: unknown;
  let closed = false;
  let wake: (() => void) | undefined;
  let room: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const allDone = () => live.every((c) => c.done);
  const advance = (cursor: Cursor, next: number) => {
    if (next > cursor.offset) cursor.offset = next;
    if (!cursor.done && cursor.until !== undefined && cursor.offset >= cursor.until) {
      cursor.done = true;
      consumer.pause([{ topic: cursor.topic, partitions: [cursor.partition] }]);
      notify();
    }
  };

  // (Re)joined: every partition starts where this reader is, not where the group would (it has no offsets).
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const c of live) if (!c.done) consumer.seek({ topic: c.topic, partition: c.partition, offset: String(c.offset) });
  });
  // Batches of only control records or aborted records reach no handler; their end still moves the position (a
  // transaction's commit marker is often the last offset of a partition).
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const cursor = cursors.get(key(payload.topic, payload.partition));
    if (cursor && payload.batchSize === 0 && payload.lastOffset !== null) advance(cursor, Number(payload.lastOffset) + 1);
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    failure = payload.error;
    notify();
  });

  const guardJoin = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      throw error;
    }
  };
  await guardJoin(async () => {
    await consumer.connect();
    await consumer.subscribe({ topics: [...new Set(live.map((c) => c.topic))], fromBeginning: false });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, heartbeat, isStale }) => {
        const cursor = cursors.get(key(batch.topic, batch.partition));
        if (!cursor || cursor.done || isStale() || closed) return;
        const from = cursor.offset;
        const until = cursor.until ?? Number.POSITIVE_INFINITY;
        const records: FetchedRecord[] = [];
        for (const m of batch.messages) {
          const offset = Number(m.offset);
          if (offset < from) continue;
          if (offset >= until) break;
          records.push({ offset, timestamp: Number(m.timestamp), key: m.key ?? null, value: m.value ?? null, headers: (m.headers ?? {}) as FetchedRecord['headers'] });
        }
        if (records.length > 0) queue.push({ topic: batch.topic, partition: batch.partition, records, highWatermark: Number(batch.highWatermark) });
        // Past what was fetched, control records and aborted records included: kafkajs fetches on from there.
        advance(cursor, Number(batch.lastOffset()) + 1);
        notify();
        while (queue.length >= QUEUED_BATCHES && !closed) {
          await waitAtMost(HEARTBEAT_MS, (resolve) => (room = resolve));
          await heartbeat();
        }
      },
    });
  });

  return {
    next: async () => {
      for (let waited = false; ; waited = true) {
        if (failure !== undefined) throw failure;
        if (queue.length > 0) {
          const batches = queue.splice(0);
          const resolve = room;
          room = undefined;
          resolve?.();
          return batches;
        }
        if (allDone()) return null;
        if (closed || waited) return [];
        await waitAtMost(maxWaitMs * 2, (resolve) => (wake = resolve));
      }
    },
    close: async () => {
      if (closed) return;
      closed = true;
      room?.();
      await consumer.disconnect().catch(() => undefined);
      // An empty group with no offsets is only dropped by the broker much later: delete it now.
      await admin.deleteGroups([groupId]).catch(() => undefined);
    },
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

/** What reading offsets takes of a Kafka client. */
export type OffsetsKafka = Pick<TopicsKafka, 'listTopics' | 'listGroups' | 'describeTopics' | 'describeGroups' | 'committedOffsets' | 'close'>;

export interface KafkaOffsetsReaderOptions {
  clientId?: string;
  /** How often topics and groups are listed again (default 10 s); offsets are read every time. */
  listEveryMs?: number;
  now?: () => number;
  /** The client to read with (default: msctl's own, on `bootstrap`). */
  connect?: () => Promise<OffsetsKafka>;
}

/**
 * Connects lazily on the first read; failures reject that read (MsctlError KAFKA_UNREACHABLE
 * when the broker is down). Topics and groups come and go rarely while their offsets move all
 * the time, so the names are listed every `listEveryMs` and each read in between asks only for
 * offsets and group states (with a listing on every read, a read cost the broker 9.9 ms of CPU
 * and the reader 8.4 ms; 7.5 and 6.7 ms listing every 10 s). A read that fails on names listed
 * earlier (a topic deleted since) lists them again.
 */
export function watchKafkaOffsets(bootstrap: string | string[], options: KafkaOffsetsReaderOptions = {}): KafkaOffsetsReader {
  const brokers = Array.isArray(bootstrap) ? bootstrap : [bootstrap];
  const { clientId = 'msctl-dashboard', listEveryMs = 10_000, now = Date.now, connect: open = () => connectTopicsKafka(brokers, clientId) } = options;
  let client: Promise<OffsetsKafka> | undefined;
  let listed: { at: number; topics: string[]; groupIds: string[] } | undefined;
  const connect = () => {
    client ??= open().catch((error: unknown) => {
      client = undefined;
      throw error;
    });
    return client;
  };
  /**
   * Drops the connection: kafkajs goes on asking the broker's metadata for every topic it was
   * once asked about, so once one is deleted elsewhere each of its calls fails; a new client
   * starts from none.
   */
  const forget = async () => {
    const current = client;
    client = undefined;
    listed = undefined;
    if (current) await (await current.catch(() => undefined))?.close().catch(() => undefined);
  };
  const list = async (kafka: OffsetsKafka) => {
    const [topics, groups] = await Promise.all([kafka.listTopics(), kafka.listGroups()]);
    return { at: now(), topics: topics.filter((name) => !name.startsWith('__')), groupIds: groups.map((g) => g.groupId) };
  };
  const readListed = async (kafka: OffsetsKafka, names: { topics: string[]; groupIds: string[] }): Promise<KafkaOffsetsReading> => {
    const [topics, described] = await Promise.all([kafka.describeTopics(names.topics), kafka.describeGroups(names.groupIds)]);
    const states = new Map(described.map((g) => [g.groupId, g.state]));
    return {
      topics: topics.map((t) => ({ topic: t.name, partitions: t.partitions.map((p) => ({ partition: p.partition, low: p.low, high: p.high })) })),
      groups: await Promise.all(
        names.groupIds.map(async (groupId) => ({
          groupId,
          state: states.get(groupId),
          offsets: (await kafka.committedOffsets(groupId)).flatMap((t) => t.partitions.map((p) => ({ topic: t.topic, partition: p.partition, offset: p.offset }))),
        })),
      ),
    };
  };
  return {
    read: async () => {
      const earlier = listed !== undefined && now() - listed.at < listEveryMs ? listed : undefined;
      if (earlier) {
        try {
          return await readListed(await connect(), earlier);
        } catch {
          // A name listed earlier may be gone: listed again below, on a new connection.
          await forget();
        }
      }
      listed = undefined;
      try {
        const kafka = await connect();
        const names = await list(kafka);
        const reading = await readListed(kafka, names);
        listed = names;
        return reading;
      } catch (error) {
        await forget();
        throw error;
      }
    },
    close: forget,
  };
}
