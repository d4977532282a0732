/**
 * `msctl logs` selection and shapes: --until, --trace, -t, --no-log-prefix and --json records.
 * The choice of lines is one pure function both runtimes' lines go through; the command is run
 * for real against a project's stored logs.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitDockerStamp } from '../../src/runtime/docker/logs';
import { recordOf, selectsLine } from '../../src/ui/log-line';
import { msctl } from '../support/cli';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const OTHER = '0af7651916cd43dd8448eb211c80319c';
const pino = (time: string, msg: string, extra: Record<string, unknown> = {}) => JSON.stringify({ level: 'info', time, service: 'x', pid: 1, msg, ...extra });

describe('which lines are printed', () => {
  const at = (iso: string, text: string) => ({ text, time: new Date(iso) });

  it('everything without a selection', () => {
    expect(selectsLine({}, { text: 'anything', time: undefined })).toBe(true);
  });

  it('--until keeps lines up to the time; a line whose time nothing tells is kept', () => {
    const until = new Date('2025-05-01T10:00:02.000Z');
    expect(selectsLine({ until }, at('2025-05-01T10:00:02.000Z', 'on time'))).toBe(true);
    expect(selectsLine({ until }, at('2025-05-01T10:00:02.001Z', 'late'))).toBe(false);
    expect(selectsLine({ until }, { text: 'no stamp', time: undefined })).toBe(true);
  });

  it('--trace keeps the records of that trace, by id or its start, in any case', () => {
    const line = { text: pino('2025-05-01T10:00:00.000Z', 'request completed', { trace_id: TRACE, span_id: 'b7ad6b7169203331' }), time: undefined };
    expect(selectsLine({ trace: TRACE }, line)).toBe(true);
    expect(selectsLine({ trace: TRACE.slice(0, 8).toUpperCase() }, line)).toBe(true);
    expect(selectsLine({ trace: OTHER }, line)).toBe(false);
    expect(selectsLine({ trace: TRACE }, { text: pino('2025-05-01T10:00:00.000Z', 'no trace'), time: undefined })).toBe(false);
    expect(selectsLine({ trace: TRACE }, { text: `plain ${TRACE}`, time: undefined })).toBe(false);
  });

  it("a line's record", () => {
    expect(recordOf('{"a":1}')).toEqual({ a: 1 });
    expect(recordOf('[1]')).toBeUndefined();
    expect(recordOf('{not json')).toBeUndefined();
  });

  it("docker: the Engine's stamp is the line's time, cut off its text", () => {
    expect(splitDockerStamp('2025-05-01T10:00:00.123456789Z [KafkaServer id=1] started')).toEqual({ text: '[KafkaServer id=1] started', time: new Date('2025-05-01T10:00:00.123Z') });
    expect(splitDockerStamp('2025-05-01T10:00:00Z {"msg":"x"}')).toEqual({ text: '{"msg":"x"}', time: new Date('2025-05-01T10:00:00Z') });
    expect(splitDockerStamp('no stamp here')).toEqual({ text: 'no stamp here', time: undefined });
  });
});

describe('msctl logs on stored logs', () => {
  let project: string;
  const stamp = (iso: string, line: string) => `${iso}\t${line}\n`;
  const run = (...args: string[]) => msctl(['logs', ...args, '--project-dir', project]);

  beforeAll(async () => {
    project = await mkdtemp(join(tmpdir(), 'msctl-logs-'));
    for (const name of ['alpha', 'beta']) {
      await mkdir(join(project, 'services', name), { recursive: true });
      await writeFile(join(project, 'services', name, 'service.json'), JSON.stringify({ name, port: name === 'alpha' ? 5101 : 5102 }));
    }
    const logs = join(project, '.msctl', 'logs');
    await mkdir(logs, { recursive: true });
    await writeFile(join(project, '.msctl', 'state.json'), '{}');
    await writeFile(
      join(logs, 'alpha.log'),
      stamp('2025-05-01T10:00:01.000Z', 'alpha starting') +
        stamp('2025-05-01T10:00:02.000Z', pino('2025-05-01T10:00:02.000Z', 'request completed', { trace_id: TRACE, url: '/users' })) +
        stamp('2025-05-01T10:00:04.000Z', pino('2025-05-01T10:00:04.000Z', 'request completed', { trace_id: OTHER })),
    );
    await writeFile(
      join(logs, 'beta.log'),
      stamp('2025-05-01T10:00:03.000Z', pino('2025-05-01T10:00:03.000Z', 'event handled', { trace_id: TRACE })) + stamp('2025-05-01T10:00:05.000Z', 'beta done'),
    );
  });
  afterAll(() => rm(project, { recursive: true, force: true }));

  it('--trace: one trace across services, in time order', async () => {
    const result = await run('--trace', TRACE, '--raw');
    expect(result.exitCode, String(result.stderr)).toBe(0);
    expect(String(result.stdout).split('\n').filter(Boolean).map((line) => line.split(' | ')[0]!.trim())).toEqual(['alpha', 'beta']);
    expect(String(result.stdout)).toContain('"url":"/users"');
  });

  it('--trace that is no id: a usage error with a hint', async () => {
    const result = await run('--trace', 'not-an-id');
    expect(result.exitCode).toBe(2);
    expect(String(result.stderr)).toMatch(/^hint: .*msctl traces/m);
  });

  it('--until, with the same grammar as --since', async () => {
    const result = await run('--since', '2025-05-01T10:00:02.000Z', '--until', '2025-05-01T10:00:03.000Z', '--raw');
    expect(String(result.stdout).split('\n').filter(Boolean).map((line) => line.split(' | ')[0]!.trim())).toEqual(['alpha', 'beta']);
    const bad = await run('--until', 'later');
    expect(bad.exitCode).toBe(2);
    expect(String(bad.stderr)).toContain('--until later: not a time');
  });

  it('-t puts the time first, --no-log-prefix drops the name', async () => {
    const result = await run('beta', '-t', '--no-log-prefix', '--raw');
    expect(String(result.stdout).split('\n').filter(Boolean)).toEqual([
      `2025-05-01T10:00:03.000Z ${pino('2025-05-01T10:00:03.000Z', 'event handled', { trace_id: TRACE })}`,
      '2025-05-01T10:00:05.000Z beta done',
    ]);
    const prefixed = await run('beta', '--timestamps', '--tail', '1');
    expect(String(prefixed.stdout)).toBe('beta | 2025-05-01T10:00:05.000Z beta done');
  });

  it('--json: a JSON record as an object, plain text as text', async () => {
    const result = await run('beta', '--json');
    expect(String(result.stdout).trim().split('\n').map((line) => JSON.parse(line))).toEqual([
      { target: 'beta', time: '2025-05-01T10:00:03.000Z', record: JSON.parse(pino('2025-05-01T10:00:03.000Z', 'event handled', { trace_id: TRACE })) },
      { target: 'beta', time: '2025-05-01T10:00:05.000Z', text: 'beta done' },
    ]);
  });
});
