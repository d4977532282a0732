/**
 * msctl's entry: the commander program. Every command's module is imported inside its action,
 * so `msctl --help` and `--version` load none of ink, dockerode or kafkajs (the build keeps each
 * command in a chunk of its own). One exit handler (exit.ts) decides what an error looks like.
 */
import chalk from 'chalk';
import { Command, InvalidArgumentError, Option } from 'commander';
import pkg from '../../package.json' with { type: 'json' };
import { EXIT_CODES } from '../core/errors';
import { createContext, type CliContext } from './context';
import { handleError, installInterruptHandler, signalExitCode } from './exit';

/**
 * kafkajs 2.2.4 schedules a timer with a negative delay, which Node 22+ reports as
 * TimeoutNegativeWarning (harmless: Node uses 1 ms). Every other warning is still printed.
 */
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

interface GlobalFlags {
  json: boolean;
  color: boolean;
  verbose: boolean;
  projectDir: string | undefined;
}

type Loaded = { run: (options: never, context: CliContext) => Promise<number | void> };

/** Literal import() calls, so the bundler makes one lazy chunk per command. */
const commands = {
  up: () => import('./commands/up/run'),
  down: () => import('./commands/down/run'),
  status: () => import('./commands/status/run'),
  logs: () => import('./commands/logs/run'),
  restart: () => import('./commands/restart/run'),
  scale: () => import('./commands/scale/run'),
  chaos: () => import('./commands/chaos/run'),
  doctor: () => import('./commands/doctor/run'),
  'load-test': () => import('./commands/load-test/run'),
  scaffold: () => import('./commands/scaffold/run'),
  topics: () => import('./commands/topics/run'),
  dashboard: () => import('./commands/dashboard/run'),
  export: () => import('./commands/export/run'),
  traces: () => import('./commands/traces/run'),
  token: () => import('./commands/token/run'),
} satisfies Record<string, () => Promise<Loaded>>;

const argv = process.argv.slice(2);
const beforeDashDash = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
const colorAllowed = (env: NodeJS.ProcessEnv) => !env.NO_COLOR && chalk.level > 0;

/** Before parsing succeeds (usage errors), the flags as far as they can be seen in argv. */
let flags: GlobalFlags = {
  json: beforeDashDash.includes('--json'),
  color: !beforeDashDash.includes('--no-color') && colorAllowed(process.env),
  verbose: beforeDashDash.includes('--verbose') || beforeDashDash.includes('-v'),
  projectDir: undefined,
};
if (!flags.color) chalk.level = 0;

/** The global options, on the program and on every command (so they work before or after the command name). */
function withGlobalOptions(command: Command, shortVerbose = true): Command {
  return command
    .option('--json', 'print machine-readable JSON (errors too, as {"error":{…}})')
    .option('--no-color', 'no colours (NO_COLOR=1 does the same)')
    .option(shortVerbose ? '-v, --verbose' : '--verbose', 'more detail; stack traces on errors')
    .option('--project-dir <dir>', 'the project folder (default: found from the current folder upwards)');
}

const positiveNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
  return n;
};

const wholeNumber = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${what} must be a whole number ≥ 0`);
  return n;
};

let exitCode: number = EXIT_CODES.ok;

function action<O>(name: keyof typeof commands, toOptions: (args: unknown[], opts: Record<string, unknown>) => O) {
  return async (...args: unknown[]): Promise<void> => {
    const command = args.at(-1) as Command;
    const local = command.opts();
    const global = program.opts();
    flags = {
      json: Boolean(global.json || local.json),
      color: global.color !== false && local.color !== false && colorAllowed(process.env),
      verbose: Boolean(global.verbose || local.verbose),
      projectDir: (local.projectDir ?? global.projectDir) as string | undefined,
    };
    if (!flags.color) chalk.level = 0;
    const options = toOptions(args.slice(0, -2), local);
    const interrupt = installInterruptHandler();
    try {
      const context = createContext({ ...flags, signal: interrupt.signal });
      const module = (await commands[name]()) as Loaded;
      const code = (await module.run(options as never, context)) ?? EXIT_CODES.ok;
      // A command that wound down after Ctrl-C still ends as interrupted.
      exitCode = interrupt.received && code === EXIT_CODES.ok ? signalExitCode(interrupt.received) : code;
    } finally {
      interrupt.dispose();
    }
  };
}

const program = new Command('msctl')
  .description('Start, inspect and debug an event-driven microservice stack (Kafka, PostgreSQL, services/*)')
  .version(pkg.version, '-V, --version', 'print the version')
  .enablePositionalOptions()
  .exitOverride()
  .showHelpAfterError('(run msctl --help for usage)');
withGlobalOptions(program);

withGlobalOptions(program.command('up').description('build what is stale, start infrastructure and services in dependency order, wait for health'))
  .argument('[services...]', 'only these services (and what they need)')
  .option('-d, --detach', 'return once everything is healthy; a supervisor keeps it running')
  .option('--dry-run', 'print the plan, change nothing')
  .addOption(new Option('--runtime <runtime>', 'where to run the stack').choices(['auto', 'local', 'docker']).default('auto'))
  .option('--timeout <seconds>', 'per-service health timeout', positiveNumber('--timeout'), 90)
  .option('--offline', 'docker runtime: do not try to pull images; build them from this machine\'s toolchain')
  .action(
    action('up', ([services], o) => ({
      offline: Boolean(o.offline),
      services: (services as string[] | undefined) ?? [],
      detach: Boolean(o.detach),
      dryRun: Boolean(o.dryRun),
      runtime: o.runtime as 'auto' | 'local' | 'docker',
      timeout: o.timeout as number,
    })),
  );

withGlobalOptions(program.command('down').description('stop the stack in reverse dependency order'), false)
  .option('-v, --volumes', 'also delete the data (Kafka, PostgreSQL, .msctl state)')
  .action(action('down', (_args, o) => ({ volumes: Boolean(o.volumes) })));

withGlobalOptions(program.command('status').description('service, state, health, pid, port, uptime, restarts'))
  .option('--watch', 'refresh until Ctrl-C (a terminal redraws; otherwise a timestamped table per change, JSON lines with --json)')
  .option('--interval <seconds>', 'seconds between refreshes with --watch', positiveNumber('--interval'), 2)
  .action(action('status', (_args, o) => ({ watch: Boolean(o.watch), interval: o.interval as number })));

withGlobalOptions(program.command('dashboard').description('live terminal dashboard: services, circuit breakers, Kafka rates and lag, logs (--json: snapshots as JSON lines)'))
  .option('--interval <seconds>', 'seconds between polls of each service', positiveNumber('--interval'), 1)
  .action(action('dashboard', (_args, o) => ({ interval: o.interval as number })));

withGlobalOptions(program.command('logs').description('print the logs of services and infrastructure (all when none named)'))
  .argument('[services...]', 'services, kafka or postgres')
  .option('-f, --follow', 'keep printing new lines until Ctrl-C (then exit 130)')
  .option('-n, --tail <lines>', 'only the last N lines of each log', wholeNumber('--tail'))
  .option('--since <time>', 'only lines since a time: ISO 8601, or relative like 30s, 10m, 2h, 1d')
  .option('--raw', 'print lines as stored (no pretty-printing of JSON logs)')
  .action(
    action('logs', ([services], o) => ({
      services: (services as string[] | undefined) ?? [],
      follow: Boolean(o.follow),
      tail: o.tail as number | undefined,
      since: o.since as string | undefined,
      raw: Boolean(o.raw),
    })),
  );

withGlobalOptions(program.command('restart').description('restart one service'))
  .argument('<service>', 'the service to restart')
  .action(action('restart', ([service]) => ({ service: service as string })));

withGlobalOptions(program.command('scale').description('run a service as N instances: HTTP ones behind the gateway, consumers as members of one group'))
  .argument('<service=count...>', 'e.g. notifications=3 users=2')
  .option('--timeout <seconds>', 'per-instance health timeout', positiveNumber('--timeout'), 90)
  .action(action('scale', ([targets], o) => ({ targets: targets as string[], timeout: o.timeout as number })));

withGlobalOptions(program.command('chaos').description('break a service or the infrastructure on purpose (kill, stop, pause) and restore it after a while'))
  .argument('<action>', 'kill | stop | pause')
  .argument('<target>', 'a service (users, users#2…), kafka or postgres')
  .option('--for <duration>', 'how long it stays broken (stop, pause; kill of kafka/postgres)', '15s')
  .action(action('chaos', ([chaosAction, target], o) => ({ action: chaosAction as string, target: target as string, for: o.for as string })));

withGlobalOptions(program.command('doctor').description('what this machine has and lacks (Node, Java, Kafka jars, Docker, ports, disk), each with the fix')).action(
  action('doctor', () => ({})),
);

const collectPartitions = (value: string, previous: number[] | undefined) => [...(previous ?? []), ...value.split(',').map((v) => wholeNumber('--partition')(v))];
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];
const brokersOption = (command: Command) => command.option('-b, --brokers <host:port,…>', 'Kafka bootstrap servers (default: the running stack\'s broker)');
const topics = program.command('topics').description('Kafka topics: list, describe, tail, produce; consumer groups, lag and offsets; dead letters');
brokersOption(withGlobalOptions(topics.command('list').description('topics with partitions, replication and message count')))
  .option('--all', 'include internal topics (__consumer_offsets, …)')
  .action(action('topics', (_args, o) => ({ action: 'list' as const, brokers: o.brokers as string | undefined, all: Boolean(o.all) })));
brokersOption(withGlobalOptions(topics.command('describe').description('per partition leader, replicas, ISR, start/end offsets; topic configs')))
  .argument('<topic>')
  .action(action('topics', ([topic], o) => ({ action: 'describe' as const, brokers: o.brokers as string | undefined, topic: topic as string })));
brokersOption(withGlobalOptions(topics.command('tail').description('print messages as they arrive (no consumer group is created)')))
  .argument('<topics...>')
  .option('--from <position>', 'beginning | end | <offset> | -<n> (last n per partition) | ISO time | duration back (10m, 2h); default end, or beginning with --exit')
  .option('--exit', 'stop at the end offsets seen at start instead of following')
  .option('-n, --max <n>', 'stop after n printed messages', wholeNumber('--max'))
  .option('-p, --partition <n>', 'only this partition (repeatable, or 0,2)', collectPartitions)
  .option('-k, --key <key>', 'only messages with this key')
  .option('-t, --type <type>', 'only CloudEvents of this type')
  .option('-w, --where <field=value>', 'only JSON values whose dotted field equals the value, e.g. data.userId=u-1; field!=value negates (repeatable)', collect)
  .option('-g, --grep <regex>', 'only values matching this regular expression')
  .addOption(new Option('-f, --format <format>', 'output format (--json means json)').choices(['pretty', 'json', 'raw']).default('pretty'))
  .action(
    action('topics', ([names], o) => ({
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
      format: (o.json ? 'json' : o.format) as 'pretty' | 'json' | 'raw',
    })),
  );
brokersOption(withGlobalOptions(topics.command('produce').description('send values (arguments, or stdin lines) and print partition and offset of each')))
  .argument('<topic>')
  .argument('[values...]', 'the values; without them, one message per stdin line')
  .option('-k, --key <key>', 'message key (also the CloudEvent subject)')
  .option('-H, --header <name=value>', 'a header (repeatable)', collect)
  .option('--cloudevent <type>', 'wrap each value in a CloudEvents 1.0 envelope of this type')
  .option('-p, --partition <n>', 'this partition (default: chosen by the key)', wholeNumber('--partition'))
  .action(
    action('topics', ([topic, values], o) => ({
      action: 'produce' as const,
      brokers: o.brokers as string | undefined,
      topic: topic as string,
      values: (values as string[] | undefined) ?? [],
      key: o.key as string | undefined,
      headers: (o.header as string[] | undefined) ?? [],
      cloudevent: o.cloudevent as string | undefined,
      partition: o.partition as number | undefined,
    })),
  );
const groups = brokersOption(withGlobalOptions(topics.command('groups').description('consumer groups: state, members; per partition committed, end offset and lag')))
  .argument('[group]', 'one group in detail')
  .action(action('topics', ([group], o) => ({ action: 'groups' as const, brokers: o.brokers as string | undefined, group: group as string | undefined })));
const integer = (what: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`${what} must be a whole number`);
  return n;
};
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
    action('topics', ([group], o) => ({
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

/** The selectors of `topics dlq` and `topics dlq replay`. */
const deadLetterSelectors = (command: Command) =>
  command
    .option('--group <group>', 'only dead letters of this consumer group')
    .addOption(new Option('--class <class>', 'only dead letters of this class').choices(['data', 'invalid-event', 'rejected', 'handler']))
    .option('-k, --key <key>', 'only records with this key')
    .option('-t, --type <type>', 'only CloudEvents of this type')
    .option('-w, --where <field=value>', 'only JSON values whose dotted field equals the value, e.g. data.userId=u-1; field!=value negates (repeatable)', collect)
    .option('-g, --grep <regex>', 'only values matching this regular expression')
    .option('-n, --max <n>', 'at most n dead letters (the oldest first)', wholeNumber('--max'));
const selectorsOf = (o: Record<string, unknown>) => ({
  group: o.group as string | undefined,
  errorClass: o.class as string | undefined,
  key: o.key as string | undefined,
  type: o.type as string | undefined,
  where: (o.where as string[] | undefined) ?? [],
  grep: o.grep as string | undefined,
  max: o.max as number | undefined,
});
const dlq = deadLetterSelectors(
  brokersOption(withGlobalOptions(topics.command('dlq').description('dead letters: records a consumer could not apply, with where they came from and why'))),
)
  .argument('[topic]', 'a dead-letter topic, or a source topic (its dead letters); default: every *.dlq topic')
  .action(action('topics', ([topic], o) => ({ action: 'dlq' as const, brokers: o.brokers as string | undefined, topic: topic as string | undefined, ...selectorsOf(o) })));
deadLetterSelectors(
  brokersOption(
    withGlobalOptions(dlq.command('replay').description('send chosen dead letters back to their source topic, as they were (consumers apply each event id once)')),
  ),
)
  .argument('<topic>', 'a dead-letter topic, or a source topic')
  .option('--dry-run', 'show what would be replayed, send nothing')
  .action(
    action('topics', ([topic], o) => ({ action: 'dlq-replay' as const, brokers: o.brokers as string | undefined, topic: topic as string, dryRun: Boolean(o.dryRun), ...selectorsOf(o) })),
  );

const scaffold = program.command('scaffold').description('generate code: scaffold new-service <name>');
withGlobalOptions(scaffold.command('new-service').description('write services/<name>/ from templates/: manifest, code on the kit, migration, tests'))
  .argument('<name>', 'lowercase kebab-case, e.g. inventory')
  .option('--consumes <topics...>', 'topics it consumes (space or comma separated)')
  .option('--produces <topics...>', 'topics it produces (POST /<name>/events publishes to the first)')
  .option('--postgres', 'store what it processes in PostgreSQL (a migration, idempotency in the database)')
  .option('--no-postgres', 'keep its state in memory')
  .option('--route <prefix>', 'expose it through the gateway, e.g. /api/<name> (→ /<name> on the service)')
  .option('--no-route', 'not exposed through the gateway')
  .option('--port <port>', 'its port (default: the first free one above every service\'s)', wholeNumber('--port'))
  .option('--dry-run', 'print the files it would write (contents with --verbose), write nothing')
  .option('-y, --yes', 'do not ask on a terminal: defaults for what the flags leave open')
  .action(
    action('scaffold', ([name], o) => ({
      input: {
        name: name as string,
        consumes: o.consumes as string[] | undefined,
        produces: o.produces as string[] | undefined,
        postgres: o.postgres as boolean | undefined,
        route: o.route as string | false | undefined,
        port: o.port as number | undefined,
        dryRun: Boolean(o.dryRun),
      },
      yes: Boolean(o.yes),
    })),
  );

withGlobalOptions(
  program
    .command('load-test')
    .description('load the running stack through the gateway (autocannon; --rate for a fixed arrival rate), judge SLOs (exit 3 when violated)'),
)
  .argument('[scenario]', 'users | ingest | read | mixed, or a YAML/JSON scenario file', 'mixed')
  .option('-d, --duration <seconds>', 'seconds measured', positiveNumber('--duration'), 10)
  .option('--warmup <seconds>', 'seconds of load before measuring (not counted)', wholeNumber('--warmup'), 0)
  .option('-c, --connections <n>', 'concurrent connections', positiveNumber('--connections'), 10)
  .option('-r, --rate <rps>', 'fixed arrival rate (open model, coordinated omission corrected) instead of the closed model', positiveNumber('--rate'))
  .option('-w, --workers <n>', 'autocannon worker threads, to get past one core (closed model)', positiveNumber('--workers'))
  .option('--users <n>', 'users signed up and logged in before the clock starts', positiveNumber('--users'), 10)
  .option('--timeout <seconds>', 'per-request timeout', positiveNumber('--timeout'), 10)
  .option('--slo <file>', 'SLO table (YAML/JSON); default: the built-in table')
  .option('--report <file.html>', 'write a self-contained HTML report')
  .option('--raise-rate-limit [perSecond]', "restart the gateway with a higher per-client rate limit first (kept in .msctl/settings.json)", positiveNumber('--raise-rate-limit'))
  .action(
    action('load-test', ([scenario], o) => ({
      scenario: scenario as string,
      duration: o.duration as number,
      warmup: o.warmup as number,
      connections: Math.round(o.connections as number),
      rate: o.rate as number | undefined,
      workers: o.workers === undefined ? undefined : Math.round(o.workers as number),
      users: Math.round(o.users as number),
      timeout: o.timeout as number,
      slo: o.slo as string | undefined,
      report: o.report as string | undefined,
      raiseRateLimit: o.raiseRateLimit === true ? 1_000_000 : (o.raiseRateLimit as number | undefined),
    })),
  );

const exporter = program.command('export').description('the stack as Kubernetes manifests (export k8s) or a Compose file (export compose)');
withGlobalOptions(exporter.command('k8s').description('a Kustomize base and dev/prod overlays: Deployments, Services, PDBs, HPA/KEDA, Strimzi Kafka, CloudNativePG'))
  .option('-o, --out <dir>', 'output folder (default: deploy/k8s in the project)')
  .option('--registry <prefix>', 'image repository prefix: images are <prefix>/<project>-<service> (default: msctl, as built locally)')
  .option('--tag <tag>', 'image tag of every service (default: latest)')
  .option('--build', 'build (or find) the service images with the Docker daemon and pin their content tags')
  .option('--offline', 'with --build: never pull')
  .action(
    action('export', (_args, o) => ({
      target: 'k8s' as const,
      out: o.out as string | undefined,
      registry: o.registry as string | undefined,
      tag: o.tag as string | undefined,
      build: Boolean(o.build),
      offline: Boolean(o.offline),
    })),
  );
withGlobalOptions(exporter.command('compose').description('a Compose file with the images, environment, health checks and volumes of `msctl up --runtime docker`'))
  .option('-o, --out <file>', 'output file (default: compose.yaml in the project)')
  .option('--offline', 'build missing infrastructure images from this machine\'s toolchain instead of pulling')
  .action(action('export', (_args, o) => ({ target: 'compose' as const, out: o.out as string | undefined, offline: Boolean(o.offline) })));

withGlobalOptions(program.command('traces').description('recent traces (root operation, services, spans, duration, errors); `traces <id>` draws one as a waterfall'))
  .argument('[id]', 'a trace id (or a unique prefix of one)')
  .option('--service <name>', 'only traces that touch this service')
  .option('--min-duration <duration>', 'only traces at least this long: 50ms, 1.5s')
  .option('--since <time>', 'only traces started since: 30s, 5m, 2h, or an ISO time')
  .option('-n, --limit <count>', 'at most this many traces, newest first', wholeNumber('--limit'), 20)
  .addHelpText(
    'after',
    '\nSampling: each service starts up to 10 new traces a second ("tracesPerSecond" in .msctl/settings.json: a number, or "all"),\nand traces every request that arrives with a sampled traceparent header (00-<32 hex>-<16 hex>-01).',
  )
  .action(
    action('traces', ([id], o) => ({
      id: id as string | undefined,
      service: o.service as string | undefined,
      minDuration: o.minDuration as string | undefined,
      since: o.since as string | undefined,
      limit: o.limit as number,
    })),
  );

withGlobalOptions(program.command('token').description("a bearer token for a service client, signed with the stack's secret (end users log in through POST /api/auth/token)"))
  .requiredOption('--client <name>', 'who the token is for: its subject is client:<name>')
  .option('--scope <scope>', 'what end users cannot do, e.g. events:ingest (post events for any subject); repeatable', (value: string, all: string[]) => [...all, value], [] as string[])
  .option('--ttl <duration>', 'how long the token lives: 30m, 1h (at most 24h)', '1h')
  .action(action('token', (_args, o) => ({ client: o.client as string, scopes: o.scope as string[], ttl: o.ttl as string })));

try {
  await program.parseAsync(argv, { from: 'user' });
} catch (error) {
  exitCode = handleError(error, { stdout: process.stdout, stderr: process.stderr, ...flags });
}
// Writes to a pipe are asynchronous: exiting now would cut a large --json document short.
// A write's callback runs once everything written before it is flushed (or the reader is gone).
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
process.exit(exitCode);
