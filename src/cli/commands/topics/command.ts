/** `msctl topics list|describe|create|delete|tail|produce|groups [reset-offsets]|dlq [replay]`: their flags and options. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type ActionFactory, wholeNumber, withGlobalOptions } from '../../command';

/** `msctl topics <action>`: --brokers (host:port,…) overrides the running stack's broker. */
export type TopicsOptions =
  | { action: 'list'; brokers?: string; all: boolean }
  | { action: 'describe'; brokers?: string; topic: string }
  | { action: 'create'; brokers?: string; topic: string; partitions: number; replicationFactor?: number; configs: string[] }
  | { action: 'delete'; brokers?: string; topics: string[]; yes: boolean }
  | {
      action: 'tail';
      brokers?: string;
      topics: string[];
      /** As typed: beginning|end|<offset>|-<n>|<ISO time>|<duration>; default end (beginning with --exit). */
      from?: string;
      exit: boolean;
      max?: number;
      partitions?: number[];
      key?: string;
      type?: string;
      where: string[];
      grep?: string;
      format: 'pretty' | 'json' | 'raw' | 'kcat';
    }
  | {
      action: 'produce';
      brokers?: string;
      topic: string;
      values: string[];
      key?: string;
      /** -K: each line is key<delimiter>value. */
      keyDelimiter?: string;
      /** Each line is a JSON object {key, headers, value}. */
      jsonl: boolean;
      /** Lines from this file instead of stdin. */
      file?: string;
      headers: string[];
      cloudevent?: string;
      partition?: number;
    }
  | { action: 'groups'; brokers?: string; group?: string }
  | ({ action: 'dlq'; brokers?: string; topic?: string } & DeadLetterSelectors)
  | ({ action: 'dlq-replay'; brokers?: string; topic: string; dryRun: boolean } & DeadLetterSelectors)
  | {
      action: 'reset-offsets';
      brokers?: string;
      group: string;
      /** `topic` or `topic:0,2`, as typed; empty with allTopics. */
      topics: string[];
      allTopics: boolean;
      to: { earliest: boolean; latest: boolean; datetime?: string; offset?: number; shiftBy?: number };
      execute: boolean;
    };

/** Which dead letters `topics dlq` and `topics dlq replay` take. */
export interface DeadLetterSelectors {
  group?: string;
  errorClass?: string;
  key?: string;
  type?: string;
  where: string[];
  grep?: string;
  max?: number;
}

const collectPartitions = (value: string, previous: number[] | undefined) => [...(previous ?? []), ...value.split(',').map((v) => wholeNumber('--partition')(v))];
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const brokersOption = (command: Command) => command.option('-b, --brokers <host:port,…>', 'Kafka bootstrap servers (default: the running stack\'s broker)');
const integer = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${what} must be a whole number`);
  return n;
};

/** The selectors of `topics dlq` and `topics dlq replay`. */
const deadLetterSelectors = (command: Command) =>
  command
    .option('--group <group>', 'only dead letters of this consumer group')
    .addOption(new Option('--class <class>', 'only dead letters of this class').choices(['data', 'invalid-event', 'rejected', 'handler']))
    .option('-k, --key <key>', 'only records with this key')
    .option('--type <type>', 'only CloudEvents of this type')
    .option('-w, --where <field=value>', 'only JSON values whose dotted field equals the value, e.g. data.userId=u-1; field!=value negates (repeatable)', collect)
    .option('-g, --grep <regex>', 'only values matching this regular expression')
    .option('-n, --max <n>', 'at most n dead letters (the oldest first)', wholeNumber('--max'));
const selectorsOf = (o: Record<string, unknown>): DeadLetterSelectors => ({
  group: o.group as string | undefined,
  errorClass: o.class as string | undefined,
  key: o.key as string | undefined,
  type: o.type as string | undefined,
  where: (o.where as string[] | undefined) ?? [],
  grep: o.grep as string | undefined,
  max: o.max as number | undefined,
});

export function register(program: Command, action: ActionFactory<TopicsOptions>): void {
  const topics = program.command('topics').description('Kafka topics: list, describe, create, delete, tail, produce; consumer groups, lag and offsets; dead letters');
  brokersOption(withGlobalOptions(topics.command('list').description('topics with partitions, replication and message count')))
    .option('--all', 'include internal topics (__consumer_offsets, …)')
    .action(action((_args, o) => ({ action: 'list' as const, brokers: o.brokers as string | undefined, all: Boolean(o.all) })));
  brokersOption(withGlobalOptions(topics.command('describe').description('per partition leader, replicas, ISR, start/end offsets; topic configs')))
    .argument('<topic>')
    .action(action(([topic], o) => ({ action: 'describe' as const, brokers: o.brokers as string | undefined, topic: topic as string })));
  brokersOption(withGlobalOptions(topics.command('create').description('create a topic (as kafka-topics.sh --create)')))
    .argument('<topic>')
    .requiredOption('--partitions <n>', 'number of partitions', wholeNumber('--partitions'))
    .option('--replication-factor <n>', "copies of each partition (default: the broker's default.replication.factor)", wholeNumber('--replication-factor'))
    .option('--config <name=value>', 'a topic config, e.g. retention.ms=3600000 (repeatable)', collect)
    .action(
      action(([topic], o) => ({
        action: 'create' as const,
        brokers: o.brokers as string | undefined,
        topic: topic as string,
        partitions: o.partitions as number,
        replicationFactor: o.replicationFactor as number | undefined,
        configs: (o.config as string[] | undefined) ?? [],
      })),
    );
  brokersOption(withGlobalOptions(topics.command('delete').description('delete topics and their messages; asks on a terminal, needs --yes elsewhere')))
    .argument('<topics...>')
    .option('-y, --yes', 'do not ask (required off a terminal, e.g. in CI)')
    .action(action(([names], o) => ({ action: 'delete' as const, brokers: o.brokers as string | undefined, topics: names as string[], yes: Boolean(o.yes) })));
  brokersOption(withGlobalOptions(topics.command('tail').description('print messages as they arrive (commits nothing, leaves no consumer group behind)')))
    .argument('<topics...>')
    .option('--from <position>', 'beginning | end | <offset> | -<n> (last n per partition) | ISO time | duration back (10m, 2h); default end, or beginning with --exit')
    .option('--exit', 'stop at the end offsets seen at start instead of following')
    .option('-n, --max <n>', 'stop after n printed messages', wholeNumber('--max'))
    .option('-p, --partition <n>', 'only this partition (repeatable, or 0,2)', collectPartitions)
    .option('-k, --key <key>', 'only messages with this key')
    .option('--type <type>', 'only CloudEvents of this type')
    .option('-w, --where <field=value>', 'only JSON values whose dotted field equals the value, e.g. data.userId=u-1; field!=value negates (repeatable)', collect)
    .option('-g, --grep <regex>', 'only values matching this regular expression')
    .addOption(
      new Option('--format <format>', 'output format: pretty, json (--json), raw (values only), kcat (the JSON of kcat -J)').choices(['pretty', 'json', 'raw', 'kcat']).default('pretty'),
    )
    .action(
      action(([names], o) => ({
        action: 'tail' as const,
        brokers: o.brokers as string | undefined,
        topics: names as string[],
        from: o.from as string | undefined,
        exit: Boolean(o.exit),
        max: o.max as number | undefined,
        partitions: o.partition as number[] | undefined,
        key: o.key as string | undefined,
        type: o.type as string | undefined,
        where: (o.where as string[] | undefined) ?? [],
        grep: o.grep as string | undefined,
        format: (o.json && o.format === 'pretty' ? 'json' : o.format) as 'pretty' | 'json' | 'raw' | 'kcat',
      })),
    );
  brokersOption(withGlobalOptions(topics.command('produce').description('send values (arguments, stdin or file lines) and print partition and offset of each')))
    .argument('<topic>')
    .argument('[values...]', 'the values; without them, one message per line of stdin or --file')
    .option('-k, --key <key>', 'message key (also the CloudEvent subject)')
    .option('-K, --key-delimiter <delimiter>', 'each line is key<delimiter>value, as kcat -K (no delimiter in a line: no key)')
    .option('--jsonl', 'each line is a JSON object: {"key": …, "headers": {…}, "value": …}')
    .option('--file <path>', 'read the lines from this file instead of stdin')
    .option('-H, --header <name=value>', 'a header (repeatable)', collect)
    .option('--cloudevent <type>', 'wrap each value in a CloudEvents 1.0 envelope of this type')
    .option('-p, --partition <n>', 'this partition (default: chosen by the key)', wholeNumber('--partition'))
    .action(
      action(([topic, values], o) => ({
        action: 'produce' as const,
        brokers: o.brokers as string | undefined,
        topic: topic as string,
        values: (values as string[] | undefined) ?? [],
        key: o.key as string | undefined,
        keyDelimiter: o.keyDelimiter as string | undefined,
        jsonl: Boolean(o.jsonl),
        file: o.file as string | undefined,
        headers: (o.header as string[] | undefined) ?? [],
        cloudevent: o.cloudevent as string | undefined,
        partition: o.partition as number | undefined,
      })),
    );
  const groups = brokersOption(withGlobalOptions(topics.command('groups').description('consumer groups: state, members; per partition committed, end offset and lag')))
    .argument('[group]', 'one group in detail')
    .action(action(([group], o) => ({ action: 'groups' as const, brokers: o.brokers as string | undefined, group: group as string | undefined })));
  brokersOption(
    withGlobalOptions(
      groups.command('reset-offsets').description("move a consumer group's committed offsets (as kafka-consumer-groups --reset-offsets): a dry run unless --execute"),
    ),
  )
    .argument('<group>', 'the consumer group')
    .option('--topic <topic[:partitions]>', 'a topic, or topic:0,2 for some partitions (repeatable)', collect)
    .option('--all-topics', 'every topic the group has committed offsets for')
    .option('--to-earliest', 'the start of each partition')
    .option('--to-latest', 'the end of each partition (skips what is there)')
    .option('--to-datetime <time>', 'the first offset at or after this ISO 8601 time, e.g. 2026-12-01T09:00:00Z')
    .option('--to-offset <n>', 'this offset (moved into the log when outside it)', wholeNumber('--to-offset'))
    .option('--shift-by <n>', 'the committed offset plus n (negative: back)', integer('--shift-by'))
    .option('--execute', 'apply the new offsets (the group must have no members)')
    .option('--dry-run', 'only show the new offsets (the default)')
    .action(
      action(([group], o) => ({
        action: 'reset-offsets' as const,
        brokers: o.brokers as string | undefined,
        group: group as string,
        topics: (o.topic as string[] | undefined) ?? [],
        allTopics: Boolean(o.allTopics),
        to: {
          earliest: Boolean(o.toEarliest),
          latest: Boolean(o.toLatest),
          datetime: o.toDatetime as string | undefined,
          offset: o.toOffset as number | undefined,
          shiftBy: o.shiftBy as number | undefined,
        },
        execute: Boolean(o.execute),
      })),
    );
  const dlq = deadLetterSelectors(
    brokersOption(withGlobalOptions(topics.command('dlq').description('dead letters: records a consumer could not apply, with where they came from and why'))),
  )
    .argument('[topic]', 'a dead-letter topic, or a source topic (its dead letters); default: every *.dlq topic')
    .action(action(([topic], o) => ({ action: 'dlq' as const, brokers: o.brokers as string | undefined, topic: topic as string | undefined, ...selectorsOf(o) })));
  deadLetterSelectors(
    brokersOption(
      withGlobalOptions(dlq.command('replay').description('send chosen dead letters back to their source topic, as they were (consumers apply each event id once)')),
    ),
  )
    .argument('<topic>', 'a dead-letter topic, or a source topic')
    .option('--dry-run', 'show what would be replayed, send nothing')
    .action(
      action(([topic], o) => ({ action: 'dlq-replay' as const, brokers: o.brokers as string | undefined, topic: topic as string, dryRun: Boolean(o.dryRun), ...selectorsOf(o) })),
    );
}
