/** `topics list`, `topics describe`, `topics groups`: data from the broker, as plain objects. */
import { MsctlError } from '../core/errors';
import type { CommittedOffsets, ConfigEntry, GroupDescription, GroupMember, TopicInfo, TopicsKafka } from '../infra/kafka/client';
import { similarNames } from './similar';

/** Kafka's own topics (__consumer_offsets, __transaction_state, …) and other internal ones. */
export const isInternalTopic = (name: string) => name.startsWith('__');

/** Checks that every topic exists; an unknown one is a clear error with the similar names. */
export async function requireTopics(kafka: TopicsKafka, names: string[]): Promise<TopicInfo[]> {
  const existing = await kafka.listTopics();
  const known = new Set(existing);
  const missing = names.filter((name) => !known.has(name));
  if (missing.length > 0) {
    const name = missing[0]!;
    const similar = similarNames(name, existing.filter((t) => !isInternalTopic(t)));
    throw new MsctlError(
      'UNKNOWN_TOPIC',
      `topic ${missing.map((m) => `'${m}'`).join(', ')} does not exist on ${kafka.brokers.join(', ')}${similar.length > 0 ? `; similar: ${similar.join(', ')}` : ''}`,
      similar.length > 0 ? `did you mean ${similar[0]}? (\`msctl topics list\` shows every topic)` : '`msctl topics list` shows the topics there are',
    );
  }
  return kafka.describeTopics([...new Set(names)]);
}

export interface TopicSummary {
  name: string;
  partitions: number;
  replication: number;
  /** Σ (end − start) over the partitions: what the log holds now. */
  messages: number;
  internal: boolean;
}

const summarize = (topic: TopicInfo): TopicSummary => ({
  name: topic.name,
  partitions: topic.partitions.length,
  replication: Math.max(0, ...topic.partitions.map((p) => p.replicas.length)),
  messages: topic.partitions.reduce((sum, p) => sum + (p.high - p.low), 0),
  internal: isInternalTopic(topic.name),
});

export async function listTopics(kafka: TopicsKafka, options: { all: boolean }): Promise<TopicSummary[]> {
  const names = (await kafka.listTopics()).filter((name) => options.all || !isInternalTopic(name)).sort();
  return (await kafka.describeTopics(names)).map(summarize).sort((a, b) => a.name.localeCompare(b.name));
}

export interface TopicDescription extends TopicSummary {
  partitionDetails: Array<{ partition: number; leader: number; replicas: number[]; isr: number[]; start: number; end: number; messages: number }>;
  configs: ConfigEntry[];
}

export async function describeTopic(kafka: TopicsKafka, name: string): Promise<TopicDescription> {
  const [topic] = await requireTopics(kafka, [name]);
  const configs = await kafka.topicConfigs(name);
  return {
    ...summarize(topic!),
    partitionDetails: topic!.partitions.map((p) => ({ partition: p.partition, leader: p.leader, replicas: p.replicas, isr: p.isr, start: p.low, end: p.high, messages: p.high - p.low })),
    configs,
  };
}

export interface GroupPartitionLag {
  topic: string;
  partition: number;
  /** null: nothing committed yet. */
  committed: number | null;
  end: number;
  /** end − committed; null when nothing is committed. */
  lag: number | null;
  /** The member (client id) the partition is assigned to now, if any. */
  member: string | null;
}

export interface GroupDetail {
  groupId: string;
  state: string;
  protocolType: string;
  protocol: string;
  members: GroupMember[];
  partitions: GroupPartitionLag[];
  totalLag: number;
}

export interface GroupSummary {
  groupId: string;
  state: string;
  protocolType: string;
  members: number;
  topics: string[];
  totalLag: number;
}

/**
 * Kafka describes any group id, known or not (as Dead, without members): one without members
 * and commits that the broker does not list is a typo, said with the similar names.
 */
export async function assertGroupExists(
  kafka: TopicsKafka,
  groupId: string,
  description: GroupDescription | undefined,
  committed: CommittedOffsets[],
  knownGroups?: string[],
): Promise<void> {
  const hasCommits = committed.some((t) => t.partitions.some((p) => p.offset >= 0));
  if (description && !((description.state === 'Dead' || description.state === 'Empty') && description.members.length === 0 && !hasCommits)) return;
  const groups = knownGroups ?? (await kafka.listGroups()).map((g) => g.groupId);
  if (groups.includes(groupId)) return;
  const similar = similarNames(groupId, groups);
  throw new MsctlError(
    'UNKNOWN_GROUP',
    `consumer group '${groupId}' does not exist on ${kafka.brokers.join(', ')}${similar.length > 0 ? `; similar: ${similar.join(', ')}` : ''}`,
    '`msctl topics groups` lists the groups there are',
  );
}

/** Per partition committed, end and lag of one group (partitions assigned but never committed included). */
export async function groupDetail(kafka: TopicsKafka, groupId: string, knownGroups?: string[]): Promise<GroupDetail> {
  const [description] = await kafka.describeGroups([groupId]);
  const committed = await kafka.committedOffsets(groupId);
  await assertGroupExists(kafka, groupId, description, committed, knownGroups);
  const assigned = new Map<string, string>();
  for (const member of description?.members ?? []) {
    for (const [topic, partitions] of Object.entries(member.assignment)) for (const p of partitions) assigned.set(`${topic}\u0000${p}`, member.clientId);
  }
  const offsets = new Map<string, number>();
  for (const t of committed) for (const p of t.partitions) offsets.set(`${t.topic}\u0000${p.partition}`, p.offset);
  const topics = [...new Set([...committed.map((t) => t.topic), ...[...assigned.keys()].map((k) => k.split('\u0000')[0]!)])].sort();
  const existing = new Set(await kafka.listTopics());
  const infos = await kafka.describeTopics(topics.filter((t) => existing.has(t)));
  const partitions: GroupPartitionLag[] = [];
  for (const info of infos) {
    for (const p of info.partitions) {
      const id = `${info.name}\u0000${p.partition}`;
      const offset = offsets.get(id);
      if (offset === undefined && !assigned.has(id)) continue;
      const committedOffset = offset !== undefined && offset >= 0 ? offset : null;
      partitions.push({
        topic: info.name,
        partition: p.partition,
        committed: committedOffset,
        end: p.high,
        lag: committedOffset === null ? null : Math.max(0, p.high - committedOffset),
        member: assigned.get(id) ?? null,
      });
    }
  }
  return {
    groupId,
    state: description?.state ?? 'Unknown',
    protocolType: description?.protocolType ?? '',
    protocol: description?.protocol ?? '',
    members: description?.members ?? [],
    partitions,
    totalLag: partitions.reduce((sum, p) => sum + (p.lag ?? 0), 0),
  };
}

export async function listGroups(kafka: TopicsKafka): Promise<GroupSummary[]> {
  const groups = (await kafka.listGroups()).map((g) => g.groupId).sort();
  const details = await Promise.all(groups.map((g) => groupDetail(kafka, g, groups)));
  return details.map((d) => ({
    groupId: d.groupId,
    state: d.state,
    protocolType: d.protocolType,
    members: d.members.length,
    topics: [...new Set(d.partitions.map((p) => p.topic))],
    totalLag: d.totalLag,
  }));
}
