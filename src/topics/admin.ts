/**
 * `topics create` and `topics delete`: the checks a user should meet before the broker's own
 * (name taken, no such topic, internal topics, k=v configs) and when a delete may go ahead.
 */
import { MsctlError } from '../core/errors';
import type { TopicsKafka } from '../infra/kafka/client';
import { isInternalTopic, requireTopics } from './inspect';

export interface CreateTopicOptions {
  topic: string;
  partitions: number;
  /** undefined: the broker's default.replication.factor. */
  replicationFactor?: number;
  /** `name=value` pairs as typed (--config). */
  configs: string[];
}

/** `retention.ms=3600000` → { name, value }; a repeated name keeps the last value, as kafka-topics.sh does. */
export function parseConfigs(pairs: string[]): Array<{ name: string; value: string }> {
  const configs = new Map<string, string>();
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new MsctlError('USAGE', `--config ${pair}: expected name=value`, 'e.g. --config retention.ms=3600000 --config cleanup.policy=compact');
    configs.set(pair.slice(0, at).trim(), pair.slice(at + 1));
  }
  return [...configs].map(([name, value]) => ({ name, value }));
}

export async function createTopic(kafka: TopicsKafka, options: CreateTopicOptions): Promise<void> {
  const configs = parseConfigs(options.configs);
  if (options.partitions < 1) throw new MsctlError('USAGE', '--partitions must be at least 1', 'e.g. --partitions 3');
  if (options.replicationFactor !== undefined && options.replicationFactor < 1) throw new MsctlError('USAGE', '--replication-factor must be at least 1', 'e.g. --replication-factor 1');
  if ((await kafka.listTopics()).includes(options.topic)) {
    throw new MsctlError('TOPIC_EXISTS', `topic '${options.topic}' already exists on ${kafka.brokers.join(', ')}`, `\`msctl topics describe ${options.topic}\` shows it; delete it first to create it anew`);
  }
  await kafka.createTopic({ topic: options.topic, partitions: options.partitions, replicationFactor: options.replicationFactor, configs });
}

/** What `topics delete` does about confirmation: --yes goes ahead, a terminal is asked, anything else is refused. */
export function deleteConfirmation(options: { yes: boolean; interactive: boolean }): 'proceed' | 'ask' | 'refuse' {
  if (options.yes) return 'proceed';
  return options.interactive ? 'ask' : 'refuse';
}

/** Checks that every topic exists and is not internal; returns what they hold (for the prompt). */
export async function topicsToDelete(kafka: TopicsKafka, names: string[]): Promise<Array<{ name: string; messages: number }>> {
  const internal = names.filter(isInternalTopic);
  if (internal.length > 0) {
    throw new MsctlError('USAGE', `${internal.join(', ')}: Kafka's internal topics are not deleted by msctl`, 'name only your own topics (`msctl topics list`)');
  }
  const topics = await requireTopics(kafka, names);
  return topics.map((t) => ({ name: t.name, messages: t.partitions.reduce((sum, p) => sum + p.high - p.low, 0) }));
}
