import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { EXIT_CODES, MsctlError } from '../../../core/errors';
import { ProgressBus } from '../../../core/events';
import { renderHtmlReport } from '../../../load/report';
import { defaultDeps, runLoadTest, type LoadEvent } from '../../../load/run';
import { loadSloFile } from '../../../load/slo';
import { describeCheck } from '../../../load/slo';
import type { LoadResult } from '../../../load/types';
import { openRuntime } from '../../../runtime/select';
import { serviceOfInstance } from '../../../stack/replicas';
import { loadProject, writeStackSettings } from '../../../stack/project';
import { USERS_SERVICE } from '../../../stack/service-env';
import type { CliContext } from '../../context';
import type { LoadTestOptions } from './command';
import { makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

const n = (value: number) => (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 2 }));

export function renderResult(result: LoadResult, color: boolean): string {
  const c = makeChalk(color);
  const lines: string[] = [];
  lines.push(`${c.bold(`load-test ${result.scenario}`)} · ${result.target} · ${n(result.durationSeconds)} s measured${result.warmupSeconds ? ` after ${result.warmupSeconds} s warm-up` : ''}`);
  lines.push(c.dim(`${result.modelDescription}`));
  lines.push(c.dim(`generator: ${result.generator}`));
  const limit = result.rateLimit.perSecondPerClient;
  lines.push(
    `gateway rate limit: ${limit === null ? 'none reported' : `${n(limit)} requests/s per client`} × ${result.rateLimit.clients} users${result.rateLimit.raised ? ' (raised for this run)' : ''}`,
  );
  lines.push('');
  const t = result.totals;
  lines.push(
    `requests ${n(t.requests)} · ${n(t.requestsPerSecond)} req/s · 2xx ${n(t.okPerSecond)}/s${t.eventsAccepted ? ` · events ${n(t.eventsAccepted)} (${n(t.eventsPerSecond)}/s)` : ''} · non-2xx ${n(t.non2xx)} · errors ${n(t.errors)}${t.late !== null ? ` · started late ${n(t.late)}` : ''}${t.unanswered ? ` · unanswered ${n(t.unanswered)}` : ''}`,
  );
  const codes = Object.entries(t.statusCodes).map(([code, count]) => `${code}×${n(count)}`);
  const errors = Object.entries(t.errorsByCode).map(([code, count]) => `${code}×${n(count)}`);
  if (codes.length || errors.length) lines.push(c.dim(`status ${[...codes, ...errors].join(' ')}`));
  lines.push('');
  const rows = [
    ...Object.entries(result.groups).map(([name, g]) => [name, n(g.requests), n(g.okPerSecond), g.eventsAccepted ? n(g.eventsPerSecond) : '-', n(g.latency.p50), n(g.latency.p90), n(g.latency.p99), n(g.latency.p999), n(g.latency.max)]),
    [c.bold('all'), n(t.requests), n(t.okPerSecond), t.eventsAccepted ? n(t.eventsPerSecond) : '-', n(result.latency.p50), n(result.latency.p90), n(result.latency.p99), n(result.latency.p999), n(result.latency.max)],
  ];
  lines.push(formatTable(rows, { header: ['GROUP', 'REQUESTS', '2XX/S', 'EVENTS/S', 'P50 MS', 'P90 MS', 'P99 MS', 'P99.9 MS', 'MAX MS'], color, align: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'] }));
  lines.push('');
  const services = Object.entries(result.server.services).map(([name, s]) => `${name} ${s.reachable ? `${n(s.requestsPerSecond)}/s` : 'unreachable'}`);
  lines.push(`server side: ${services.join(' · ')}`);
  const changes = result.server.breakers.changes.map((ch) => `${ch.service}/${ch.breaker} ${ch.from}→${ch.to}`);
  const counted = Object.entries(result.server.breakers.events).map(([name, e]) => `${name} open×${e.open} half-open×${e.halfOpen} close×${e.close}`);
  lines.push(changes.length || counted.length ? c.yellow(`circuit breakers: ${[...changes, ...counted].join(' · ')}`) : 'circuit breakers: no state change');
  const dead = Object.entries(result.server.services).filter(([, s]) => s.deadLetters > 0);
  if (dead.length > 0) lines.push(c.red(`dead letters: ${dead.map(([name, s]) => `${name} ${n(s.deadLetters)}`).join(' · ')} (msctl topics dlq shows them)`));
  for (const consumer of result.server.consumers) {
    const line = `consumer ${consumer.group} (${consumer.service}): ${consumer.output}`;
    lines.push(consumer.status === 'fail' ? c.red(line) : c.yellow(line));
  }
  const check = result.ingestCheck;
  if (check.ran) {
    const text = `ingest check: accepted ${n(check.accepted)} events, analytics counted ${check.counted === null ? 'nothing' : n(check.counted)}`;
    lines.push(check.ok ? c.green(`${text} ✔`) : c.red(`${text} ✘`));
  }
  lines.push('');
  if (result.slo.checks.length === 0) lines.push(`SLO (${result.slo.source}): no objective applies to this run's groups`);
  else if (result.slo.ok) lines.push(c.green(`SLO (${result.slo.source}): all ${result.slo.checks.length} objectives met`));
  else {
    lines.push(c.red.bold(`SLO (${result.slo.source}) violated:`));
    for (const check of result.slo.checks.filter((ch) => !ch.ok)) lines.push(c.red(`  ✘ ${describeCheck(check)}`));
    for (const check of result.slo.checks.filter((ch) => ch.ok)) lines.push(c.dim(`  ✔ ${describeCheck(check)}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The live line on a TTY: rewritten once a second. Off a TTY (and with --json) the run is quiet. */
function liveProgress(context: CliContext): { onEvent: (event: LoadEvent) => void; end: () => void } {
  const live = context.isTTY && !context.json;
  const out = context.stderr;
  const c = makeChalk(context.color);
  let open = false;
  return {
    onEvent: (event) => {
      if (!live) return;
      if (event.type === 'phase') {
        if (open) out.write('\n');
        open = false;
        out.write(`${c.dim(event.text)}\n`);
        return;
      }
      const s = event.sample;
      out.write(
        `\r\u001b[K${c.cyan(event.phase === 'warmup' ? 'warm-up' : 'running')} ${event.elapsedSeconds}/${event.durationSeconds}s  ${n(s.requests)} req/s  2xx ${n(s.ok)}/s${s.events ? `  ${n(s.events)} events/s` : ''}  p50 ${n(s.p50)} ms  p99 ${n(s.p99)} ms  errors ${n(s.errors)}  total ${n(event.totalRequests)}`,
      );
      open = true;
    },
    end: () => {
      if (open) out.write('\n');
      open = false;
    },
  };
}

export async function run(options: LoadTestOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  const runtime = await openRuntime(project);
  const status = await runtime.status();
  const gateway = project.manifests.find((manifest) => manifest.gateway);
  if (!gateway) throw new MsctlError('USAGE', 'this project has no gateway service (a manifest with "gateway": true)');
  const gatewayState = status.targets.find((target) => target.name === gateway.name);
  if (gatewayState?.state !== 'healthy') {
    throw new MsctlError('NOT_RUNNING', `the gateway is ${gatewayState?.state ?? 'not running'}`, 'start the stack with `msctl up -d`, then run the load test');
  }
  const slo = options.slo ? { table: await loadSloFile(options.slo), source: resolve(options.slo) } : undefined;
  const progress = liveProgress(context);
  const running = status.targets.filter((target) => target.kind === 'service' && target.port !== null);
  const metrics = Object.fromEntries(running.map((target) => [target.name, `http://127.0.0.1:${target.port}/metrics`]));
  const health = Object.fromEntries(
    running.map((target) => [target.name, `http://127.0.0.1:${target.port}${project.manifests.find((m) => m.name === serviceOfInstance(target.name))?.healthPath ?? '/health'}`]),
  );
  const raiseRateLimit = async (perSecond: number) => {
    writeStackSettings(project.stateDir, { rateLimitPerSecond: perSecond });
    const bus = new ProgressBus();
    bus.subscribe((event) => {
      if (event.type === 'message' || (event.type === 'target' && event.target === gateway.name)) {
        progress.onEvent({ type: 'phase', text: event.type === 'message' ? event.text : `gateway ${event.phase}` });
      }
    });
    // The gateway (and users, for its public routes) read the setting when they start: restart
    // them on the runtime the stack runs on.
    const names = [gateway.name, ...project.manifests.filter((m) => m.name === USERS_SERVICE).map((m) => m.name)];
    for (const name of names) await runtime.restart(name, bus);
  };

  let result: LoadResult;
  try {
    result = await runLoadTest(
      {
        baseUrl: `http://127.0.0.1:${gatewayState.port ?? gateway.port}`,
        scenario: options.scenario,
        durationSeconds: options.duration,
        warmupSeconds: options.warmup,
        connections: options.connections,
        ...(options.rate !== undefined ? { rate: options.rate } : {}),
        ...(options.workers !== undefined ? { workers: options.workers } : {}),
        users: options.users,
        timeoutSeconds: options.timeout,
        ...(slo ? { slo } : {}),
        metrics,
        health,
        ...(options.raiseRateLimit !== undefined ? { raiseRateLimitTo: options.raiseRateLimit } : {}),
        signal: context.signal,
        onEvent: progress.onEvent,
      },
      { ...defaultDeps, raiseRateLimit },
    );
  } finally {
    progress.end();
  }

  if (options.report) {
    const file = resolve(options.report);
    await writeFile(file, renderHtmlReport(result));
    if (!context.json) context.stderr.write(`report written to ${file}\n`);
  }
  context.stdout.write(context.json ? `${JSON.stringify(result)}\n` : renderResult(result, context.color));
  if (result.ingestCheck.ran && !result.ingestCheck.ok) {
    throw new MsctlError(
      'LOAD_TEST_FAILED',
      `the stack accepted ${result.ingestCheck.accepted} events but analytics counted ${result.ingestCheck.counted ?? 'none'} of this run's types within 30 s`,
      'see `msctl logs data-processing analytics`; a client-side timeout on an accepted batch also shows as a difference',
    );
  }
  return result.slo.ok ? EXIT_CODES.ok : EXIT_CODES.sloViolated;
}
