/**
 * `msctl topics list|describe|create|delete|tail|produce|groups`: thin — resolve the broker, call src/topics,
 * render (tables, or one JSON document with --json; tail and produce stream JSON lines).
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { MsctlError } from '../../../core/errors';
import { connectTopicsKafka, type TopicsKafka } from '../../../infra/kafka/client';
import { resolveBrokers } from '../../../topics/brokers';
import { compileFilter } from '../../../topics/filter';
import { createFormatter } from '../../../topics/format';
import { parseFrom } from '../../../topics/from';
import { deadLetterJson, readDeadLetters, replayDeadLetters, replaySet, type DeadLetter, type DeadLetterSelection } from '../../../topics/dlq';
import { describeTopic, groupDetail, listGroups, listTopics, type GroupDetail, type GroupSummary, type TopicDescription, type TopicSummary } from '../../../topics/inspect';
import { executeReset, parseTopicScope, planReset, type ResetPlan, type ResetTo } from '../../../topics/offsets';
import { createTopic, deleteConfirmation, topicsToDelete } from '../../../topics/admin';
import { parseLine, produce, type InputMessage, type LineFormat, type Produced } from '../../../topics/produce';
import { kcatContext, tail } from '../../../topics/tail';
import type { CliContext } from '../../context';
import type { DeadLetterSelectors, TopicsOptions } from './command';
import { makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

type Chalk = ReturnType<typeof makeChalk>;

export function renderTopicList(topics: TopicSummary[], color: boolean): string {
  if (topics.length === 0) return 'no topics\n';
  const rows = topics.map((t) => [t.name, String(t.partitions), String(t.replication), String(t.messages)]);
  return `${formatTable(rows, { header: ['TOPIC', 'PARTITIONS', 'REPLICATION', 'MESSAGES'], color, align: ['left', 'right', 'right', 'right'] })}\n`;
}

/** Configs worth showing even at their defaults. */
const KEY_CONFIGS = new Set(['cleanup.policy', 'retention.ms', 'retention.bytes', 'min.insync.replicas', 'segment.bytes', 'max.message.bytes', 'compression.type']);

export function renderTopicDescription(topic: TopicDescription, color: boolean): string {
  const c = makeChalk(color);
  const rows = topic.partitionDetails.map((p) => [String(p.partition), String(p.leader), p.replicas.join(','), p.isr.join(','), String(p.start), String(p.end), String(p.messages)]);
  const table = formatTable(rows, { header: ['PARTITION', 'LEADER', 'REPLICAS', 'ISR', 'START', 'END', 'MESSAGES'], color, align: ['right', 'right', 'left', 'left', 'right', 'right', 'right'] });
  const configs = topic.configs.filter((e) => !e.isDefault || KEY_CONFIGS.has(e.name));
  const configTable = formatTable(
    configs.map((e) => [e.name, e.sensitive ? '(sensitive)' : (e.value ?? '-'), e.isDefault ? c.dim('default') : c.yellow('set')]),
    { header: ['CONFIG', 'VALUE', ''], color, indent: '' },
  );
  return `${c.bold(topic.name)}  partitions ${topic.partitions} · replication ${topic.replication} · ${topic.messages} messages\n${table}\n\n${configTable}\n`;
}

export function renderGroups(groups: GroupSummary[], color: boolean): string {
  if (groups.length === 0) return 'no consumer groups\n';
  const rows = groups.map((g) => [g.groupId, g.state, String(g.members), g.topics.join(',') || '-', String(g.totalLag)]);
  return `${formatTable(rows, { header: ['GROUP', 'STATE', 'MEMBERS', 'TOPICS', 'LAG'], color, align: ['left', 'left', 'right', 'left', 'right'] })}\n`;
}

export function renderGroup(group: GroupDetail, color: boolean): string {
  const c = makeChalk(color);
  const state = group.state === 'Stable' ? c.green(group.state) : group.state === 'Dead' ? c.red(group.state) : c.yellow(group.state);
  let out = `${c.bold(group.groupId)}  ${state} · ${group.members.length} member${group.members.length === 1 ? '' : 's'} · total lag ${group.totalLag}\n`;
  if (group.members.length > 0) {
    const rows = group.members.map((m) => [m.clientId, m.clientHost, Object.entries(m.assignment).map(([t, ps]) => `${t}[${ps.join(',')}]`).join(' ') || '-']);
    out += `${formatTable(rows, { header: ['MEMBER', 'HOST', 'ASSIGNED'], color })}\n\n`;
  }
  const rows = group.partitions.map((p) => [p.topic, String(p.partition), p.committed === null ? '-' : String(p.committed), String(p.end), p.lag === null ? '-' : String(p.lag), p.member ?? '-']);
  out += rows.length > 0 ? `${formatTable(rows, { header: ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG', 'MEMBER'], color, align: ['left', 'right', 'right', 'right', 'right'] })}\n` : `${c.dim('no committed offsets')}\n`;
  return out;
}

const oneLine = (text: string, max: number) => {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

export function renderDeadLetters(letters: DeadLetter[], topics: string[], color: boolean, footer?: string): string {
  const c = makeChalk(color);
  if (letters.length === 0) return topics.length === 0 ? 'no dead-letter topics: no consumer has set a record aside\n' : `no dead letters in ${topics.join(', ')}\n`;
  const rows = letters.map((l) => [
    `${l.at.topic}@${l.at.partition}:${l.at.offset}`,
    `${l.info.topic}[${l.info.partition}]@${l.info.offset}`,
    l.info.group,
    l.info.class,
    l.info.at ? l.info.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-',
    oneLine(l.info.reason, 80),
  ]);
  const table = formatTable(rows, { header: ['DEAD LETTER', 'SOURCE', 'GROUP', 'CLASS', 'SET ASIDE', 'REASON'], color });
  const sources = [...new Set(letters.map((l) => l.info.topic))];
  footer ??= `${letters.length} dead letter${letters.length === 1 ? '' : 's'}; replay once fixed: msctl topics dlq replay ${sources.length === 1 ? sources[0] : '<topic>'} --dry-run`;
  return `${table}\n${c.dim(footer)}\n`;
}

export function renderResetPlan(plan: ResetPlan, executed: boolean, color: boolean): string {
  const c = makeChalk(color);
  const rows = plan.partitions.map((p) => [plan.group, p.topic, String(p.partition), p.current === null ? '-' : String(p.current), String(p.target), String(p.high - p.target)]);
  const table = formatTable(rows, { header: ['GROUP', 'TOPIC', 'PARTITION', 'CURRENT', 'NEW-OFFSET', 'LAG-AFTER'], color, align: ['left', 'left', 'right', 'right', 'right', 'right'] });
  if (executed) return `${table}\n${c.green(`offsets of ${plan.group} reset`)}\n`;
  const active = plan.members > 0 ? c.yellow(`; the group has ${plan.members} member${plan.members === 1 ? '' : 's'} (${plan.state}): --execute is refused until they stop`) : '';
  return `${table}\n${c.dim('dry run: nothing changed; add --execute to apply')}${active}\n`;
}

/** Writes to a stream with backpressure; false once the reader went away (EPIPE: `| head`). */
function streamWriter(stream: NodeJS.WriteStream): { write: (chunk: string | Buffer) => Promise<boolean>; dispose: () => void } {
  let closed = false;
  const onError = (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') closed = true;
    else throw error;
  };
  stream.on('error', onError);
  return {
    write: async (chunk) => {
      if (closed) return false;
      if (stream.write(chunk)) return !closed;
      await new Promise<void>((resolve) => {
        const done = () => {
          stream.off('drain', done);
          stream.off('close', done);
          stream.off('error', done);
          resolve();
        };
        stream.once('drain', done);
        stream.once('close', done);
        stream.once('error', done);
      });
      return !closed;
    },
    dispose: () => stream.off('error', onError),
  };
}

/** The non-empty lines of a stream, each with its line number. */
async function* linesOf(input: NodeJS.ReadableStream): AsyncGenerator<[string, number]> {
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let number = 0;
  for await (const line of lines) {
    number++;
    if (line !== '') yield [line, number];
  }
}

async function* messagesOf(lines: AsyncIterable<[string, number]>, format: LineFormat): AsyncGenerator<InputMessage> {
  for await (const [line, number] of lines) yield parseLine(line, format, number);
}

/** A file to read lines from, opened before anything is sent (a missing file is a clear error, not a half-done produce). */
async function openLines(path: string): Promise<NodeJS.ReadableStream> {
  const stream = createReadStream(path);
  await new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (error: NodeJS.ErrnoException) =>
      reject(new MsctlError('USAGE', `--file ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, 'give the path of a file with one message per line')),
    );
  });
  return stream;
}

async function runTail(kafka: TopicsKafka, options: Extract<TopicsOptions, { action: 'tail' }>, context: CliContext, c: Chalk): Promise<number> {
  const from = parseFrom(options.from ?? (options.exit ? 'beginning' : 'end'));
  const filter = compileFilter({ key: options.key, type: options.type, where: options.where, grep: options.grep });
  const out = streamWriter(context.stdout);
  const chatty = !context.json && context.stderr.isTTY === true;
  try {
    const result = await tail(
      kafka,
      {
        topics: options.topics,
        partitions: options.partitions,
        from,
        exit: options.exit,
        max: options.max,
        filter,
        format: createFormatter(options.format, c, options.format === 'kcat' ? await kcatContext(kafka, options.topics) : undefined),
      },
      {
        write: out.write,
        signal: context.signal,
        onStart: (positions) => {
          if (chatty) {
            const what = options.exit ? 'reading' : 'following';
            context.stderr.write(c.dim(`${what} ${options.topics.join(', ')} (${positions.length} partition${positions.length === 1 ? '' : 's'})${options.exit ? '' : ' — Ctrl-C to stop'}\n`));
          }
        },
      },
    );
    if (chatty && result.reason !== 'closed') context.stderr.write(c.dim(`${result.printed} message${result.printed === 1 ? '' : 's'}${filter ? ` of ${result.scanned} read` : ''}\n`));
    return 0;
  } finally {
    out.dispose();
  }
}

function lineFormat(options: Extract<TopicsOptions, { action: 'produce' }>): LineFormat {
  if (options.keyDelimiter !== undefined) {
    if (options.jsonl) throw new MsctlError('USAGE', '-K and --jsonl exclude each other', 'with --jsonl the key is the "key" field of each line');
    if (options.key !== undefined) throw new MsctlError('USAGE', '-K and --key exclude each other', '-K takes each line\'s key from the line; --key gives every message the same key');
    if (options.keyDelimiter === '') throw new MsctlError('USAGE', '-K needs a delimiter', 'e.g. -K: for lines like user-1:{"hello":"world"}');
    return { kind: 'keyed', delimiter: options.keyDelimiter };
  }
  return options.jsonl ? { kind: 'jsonl' } : { kind: 'value' };
}

/** `topics delete`: asks on a terminal; off one (CI, a pipe) it needs --yes. */
async function runDelete(kafka: TopicsKafka, options: Extract<TopicsOptions, { action: 'delete' }>, context: CliContext): Promise<number> {
  const topics = await topicsToDelete(kafka, options.topics);
  const what = topics.map((t) => `${t.name} (${t.messages} message${t.messages === 1 ? '' : 's'})`).join(', ');
  const decision = deleteConfirmation({ yes: options.yes, interactive: process.stdin.isTTY === true && context.stderr.isTTY === true });
  if (decision === 'refuse') {
    throw new MsctlError('USAGE', `not deleting ${what}: nobody to confirm (stdin is not a terminal)`, `add --yes to delete without asking: msctl topics delete ${options.topics.join(' ')} --yes`);
  }
  if (decision === 'ask') {
    const prompt = createInterface({ input: process.stdin, output: context.stderr });
    const answer = await new Promise<string>((resolve) => prompt.question(`delete ${what}? This cannot be undone. [y/N] `, resolve)).finally(() => prompt.close());
    if (!/^y(es)?$/i.test(answer.trim())) {
      context.stderr.write('nothing deleted\n');
      return 1;
    }
  }
  await kafka.deleteTopics(topics.map((t) => t.name));
  context.stdout.write(context.json ? `${JSON.stringify({ deleted: topics })}\n` : `deleted ${what}\n`);
  return 0;
}

async function runProduce(kafka: TopicsKafka, options: Extract<TopicsOptions, { action: 'produce' }>, context: CliContext): Promise<number> {
  const format = lineFormat(options);
  let source: AsyncIterable<InputMessage> | Iterable<InputMessage>;
  if (options.values.length > 0) {
    if (options.file !== undefined) throw new MsctlError('USAGE', 'give values or --file, not both', `e.g. msctl topics produce ${options.topic} --file events.txt`);
    source = options.values.map((value, i) => parseLine(value, format, i + 1));
  } else if (options.file !== undefined) {
    source = messagesOf(linesOf(await openLines(options.file)), format);
  } else {
    if (process.stdin.isTTY) {
      throw new MsctlError('USAGE', 'nothing to produce: give values, --file, or pipe lines on stdin', `e.g. msctl topics produce ${options.topic} '{"hello":"world"}', or: cat events.jsonl | msctl topics produce ${options.topic}`);
    }
    source = messagesOf(linesOf(process.stdin), format);
  }
  const out = streamWriter(context.stdout);
  try {
    const print = (results: Produced[]) => {
      let text = '';
      for (const r of results) {
        text += context.json
          ? `${JSON.stringify(r)}\n`
          : `partition ${r.partition} offset ${r.offset}${r.key === null ? '' : ` key ${r.key}`}\n`;
      }
      return out.write(text).then(() => undefined);
    };
    await produce(
      kafka,
      { topic: options.topic, key: options.key, headers: options.headers, cloudEvent: options.cloudevent, partition: options.partition },
      source,
      print,
      context.signal,
    );
    return 0;
  } finally {
    out.dispose();
  }
}

function selectionOf(topic: string | undefined, selectors: DeadLetterSelectors): DeadLetterSelection {
  return {
    topic,
    group: selectors.group,
    errorClass: selectors.errorClass,
    filter: compileFilter({ key: selectors.key, type: selectors.type, where: selectors.where, grep: selectors.grep }),
    max: selectors.max,
  };
}

function resetTo(to: Extract<TopicsOptions, { action: 'reset-offsets' }>['to']): ResetTo {
  const chosen: ResetTo[] = [];
  if (to.earliest) chosen.push({ kind: 'earliest' });
  if (to.latest) chosen.push({ kind: 'latest' });
  if (to.datetime !== undefined) {
    const timestamp = Date.parse(to.datetime);
    if (Number.isNaN(timestamp)) throw new MsctlError('USAGE', `--to-datetime ${to.datetime}: not an ISO 8601 time`, 'e.g. --to-datetime 2026-12-01T09:00:00Z');
    chosen.push({ kind: 'datetime', timestamp });
  }
  if (to.offset !== undefined) chosen.push({ kind: 'offset', offset: to.offset });
  if (to.shiftBy !== undefined) chosen.push({ kind: 'shift', by: to.shiftBy });
  if (chosen.length !== 1) {
    throw new MsctlError(
      'USAGE',
      chosen.length === 0 ? 'reset-offsets needs where to: one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by' : 'reset-offsets takes only one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by',
      'e.g. msctl topics groups reset-offsets analytics --topic events.processed --to-earliest',
    );
  }
  return chosen[0]!;
}

async function runResetOffsets(kafka: TopicsKafka, options: Extract<TopicsOptions, { action: 'reset-offsets' }>, context: CliContext): Promise<number> {
  const to = resetTo(options.to);
  if (options.allTopics === (options.topics.length > 0)) {
    throw new MsctlError('USAGE', options.allTopics ? '--all-topics and --topic exclude each other' : 'reset-offsets needs --topic <topic> or --all-topics', 'e.g. --topic events.processed, or --topic events.processed:0,2');
  }
  const plan = await planReset(kafka, options.group, to, options.allTopics ? 'all' : options.topics.map(parseTopicScope));
  if (options.execute) await executeReset(kafka, plan);
  context.stdout.write(context.json ? `${JSON.stringify({ ...plan, executed: options.execute })}\n` : renderResetPlan(plan, options.execute, context.color));
  return 0;
}

async function runDeadLetters(kafka: TopicsKafka, options: Extract<TopicsOptions, { action: 'dlq' | 'dlq-replay' }>, context: CliContext): Promise<number> {
  const { topics, letters } = await readDeadLetters(kafka, selectionOf(options.topic, options), context.signal);
  if (options.action === 'dlq') {
    context.stdout.write(
      context.json ? `${JSON.stringify({ brokers: kafka.brokers, topics, deadLetters: letters.map(deadLetterJson) })}\n` : renderDeadLetters(letters, topics, context.color),
    );
    return 0;
  }
  const { send, duplicates } = replaySet(letters);
  const c = makeChalk(context.color && !context.json);
  if (options.dryRun || send.length === 0) {
    if (context.json) context.stdout.write(`${JSON.stringify({ dryRun: options.dryRun, replay: send.map(deadLetterJson), duplicates })}\n`);
    else if (send.length === 0) context.stdout.write('no dead letter matches: nothing to replay\n');
    else {
      const skipped = duplicates > 0 ? ` (${duplicates} more dead letter${duplicates === 1 ? '' : 's'} of the same records left out)` : '';
      const footer = `dry run: ${send.length} record${send.length === 1 ? '' : 's'} would go back to ${[...new Set(send.map((l) => l.info.topic))].join(', ')}${skipped}; run without --dry-run to send`;
      context.stdout.write(renderDeadLetters(send, topics, context.color, footer));
    }
    return 0;
  }
  const replayed = await replayDeadLetters(kafka, send);
  if (context.json) context.stdout.write(`${JSON.stringify({ dryRun: false, replayed, duplicates })}\n`);
  else {
    for (const r of replayed) context.stdout.write(`${r.from.topic}@${r.from.partition}:${r.from.offset} → ${r.to.topic}[${r.to.partition}]@${r.to.offset}\n`);
    context.stdout.write(c.green(`replayed ${replayed.length} record${replayed.length === 1 ? '' : 's'}; each keeps its event id, so a consumer applies it once however often it is replayed\n`));
  }
  return 0;
}

export async function run(options: TopicsOptions, context: CliContext): Promise<number> {
  const brokers = await resolveBrokers(options.brokers, context.projectDir);
  const c = makeChalk(context.color && !context.json);
  const kafka = await connectTopicsKafka(brokers);
  const print = (json: unknown, text: () => string) => context.stdout.write(context.json ? `${JSON.stringify(json)}\n` : text());
  try {
    switch (options.action) {
      case 'list': {
        const topics = await listTopics(kafka, { all: options.all });
        print({ brokers, topics }, () => renderTopicList(topics, context.color));
        return 0;
      }
      case 'describe': {
        const topic = await describeTopic(kafka, options.topic);
        print(topic, () => renderTopicDescription(topic, context.color));
        return 0;
      }
      case 'create': {
        await createTopic(kafka, { topic: options.topic, partitions: options.partitions, replicationFactor: options.replicationFactor, configs: options.configs });
        const created = await describeTopic(kafka, options.topic);
        print(created, () => `created ${created.name}: ${created.partitions} partition${created.partitions === 1 ? '' : 's'}, replication ${created.replication}\n`);
        return 0;
      }
      case 'delete':
        return await runDelete(kafka, options, context);
      case 'groups': {
        if (options.group !== undefined) {
          const group = await groupDetail(kafka, options.group);
          print(group, () => renderGroup(group, context.color));
        } else {
          const groups = await listGroups(kafka);
          print({ brokers, groups }, () => renderGroups(groups, context.color));
        }
        return 0;
      }
      case 'tail':
        return await runTail(kafka, options, context, c);
      case 'produce':
        return await runProduce(kafka, options, context);
      case 'dlq':
      case 'dlq-replay':
        return await runDeadLetters(kafka, options, context);
      case 'reset-offsets':
        return await runResetOffsets(kafka, options, context);
    }
  } finally {
    await kafka.close();
  }
}
