/**
 * `topics groups reset-offsets`, with the semantics of Kafka's kafka-consumer-groups: one of
 * --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by for the partitions of the
 * chosen topics; a plan first (a dry run by default), applied only with --execute, and only
 * while the group has no members (a member would overwrite the offsets with its next commit).
 */
import { MsctlError } from '../core/errors';
import type { TopicInfo, TopicsKafka } from '../infra/kafka/client';
import { assertGroupExists, requireTopics } from './inspect';

export type ResetTo =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'datetime'; timestamp: number }
  | { kind: 'offset'; offset: number }
  | { kind: 'shift'; by: number };

/** `topic` (every partition) or `topic:0,2`, as kafka-consumer-groups takes them. */
export interface TopicScope {
  topic: string;
  partitions?: number[];
}

export interface PartitionReset {
  topic: string;
  partition: number;
  /** The committed offset now; null when the group never committed one. */
  current: number | null;
  target: number;
  /** The partition's log start and end offsets. */
  low: number;
  high: number;
}

export interface ResetPlan {
  group: string;
  state: string;
  members: number;
  to: ResetTo;
  partitions: PartitionReset[];
}

export function parseTopicScope(text: string): TopicScope {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { topic: text };
  const partitions = text
    .slice(colon + 1)
    .split(',')
    .map((p) => p.trim());
  if (partitions.some((p) => !/^\d+$/.test(p))) {
    throw new MsctlError('USAGE', `--topic ${text}: expected a topic, or topic:partition,partition`, 'e.g. --topic events.processed or --topic events.processed:0,2');
  }
  return { topic: text.slice(0, colon), partitions: partitions.map(Number) };
}

/**
 * The offset a partition is reset to; Kafka's rules: a target outside the log is moved to its
 * nearest end, a time after the last record is the end offset, and shifting needs a committed offset.
 */
export function targetOffset(to: ResetTo, p: { topic: string; partition: number; current: number | null; low: number; high: number; atTime?: number }): number {
  const clamp = (offset: number) => Math.min(p.high, Math.max(p.low, offset));
  switch (to.kind) {
    case 'earliest':
      return p.low;
    case 'latest':
      return p.high;
    case 'datetime':
      return clamp(p.atTime ?? p.high);
    case 'offset':
      return clamp(to.offset);
    case 'shift':
      if (p.current === null) {
        throw new MsctlError(
          'USAGE',
          `cannot shift ${p.topic}[${p.partition}]: the group has no committed offset there`,
          'reset it with --to-earliest, --to-latest, --to-datetime or --to-offset instead',
        );
      }
      return clamp(p.current + to.by);
  }
}

export async function planReset(kafka: TopicsKafka, group: string, to: ResetTo, scope: TopicScope[] | 'all'): Promise<ResetPlan> {
  const [description] = await kafka.describeGroups([group]);
  const committed = await kafka.committedOffsets(group);
  await assertGroupExists(kafka, group, description, committed);
  const current = new Map<string, number>();
  for (const t of committed) for (const p of t.partitions) if (p.offset >= 0) current.set(`${t.topic}\u0000${p.partition}`, p.offset);
  let scopes: TopicScope[];
  if (scope === 'all') {
    scopes = committed.filter((t) => t.partitions.some((p) => p.offset >= 0)).map((t) => ({ topic: t.topic }));
    if (scopes.length === 0) {
      throw new MsctlError('USAGE', `group '${group}' has no committed offsets: --all-topics selects nothing`, 'name the topics with --topic <topic>');
    }
  } else {
    scopes = scope;
  }
  const infos = new Map((await requireTopics(kafka, scopes.map((s) => s.topic))).map((info) => [info.name, info] as const));
  const partitions: PartitionReset[] = [];
  for (const { topic, partitions: wanted } of scopes) {
    const info = infos.get(topic) as TopicInfo;
    const unknown = (wanted ?? []).filter((p) => !info.partitions.some((q) => q.partition === p));
    if (unknown.length > 0) {
      throw new MsctlError('USAGE', `topic '${topic}' has no partition ${unknown.join(', ')} (it has ${info.partitions.map((p) => p.partition).join(', ')})`, `e.g. --topic ${topic}:${info.partitions[0]?.partition ?? 0}`);
    }
    const atTime = to.kind === 'datetime' ? await kafka.offsetsForTime(topic, to.timestamp) : undefined;
    for (const p of info.partitions) {
      if (wanted && !wanted.includes(p.partition)) continue;
      const now = current.get(`${topic}\u0000${p.partition}`) ?? null;
      const input = { topic, partition: p.partition, current: now, low: p.low, high: p.high, atTime: atTime?.get(p.partition) };
      partitions.push({ topic, partition: p.partition, current: now, target: targetOffset(to, input), low: p.low, high: p.high });
    }
  }
  return { group, state: description?.state ?? 'Dead', members: description?.members.length ?? 0, to, partitions };
}

/** Only a group without members can take new offsets: Kafka refuses a commit from outside an active group, and a member would overwrite them. */
export function assertInactive(plan: ResetPlan): void {
  if (plan.members === 0 && (plan.state === 'Empty' || plan.state === 'Dead')) return;
  throw new MsctlError(
    'GROUP_ACTIVE',
    `the offsets of group '${plan.group}' can only be reset while it is inactive, but it has ${plan.members} member${plan.members === 1 ? '' : 's'} (state ${plan.state})`,
    `stop the consumers of '${plan.group}' first (e.g. \`msctl chaos stop <service> --for 5m\` keeps a service stopped, then restores it), and run this again`,
  );
}

export async function executeReset(kafka: TopicsKafka, plan: ResetPlan): Promise<void> {
  assertInactive(plan);
  const byTopic = new Map<string, PartitionReset[]>();
  for (const p of plan.partitions) byTopic.set(p.topic, [...(byTopic.get(p.topic) ?? []), p]);
  for (const [topic, list] of byTopic) await kafka.setOffsets(plan.group, topic, list.map((p) => ({ partition: p.partition, offset: p.target })));
}
