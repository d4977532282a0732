/** `msctl doctor`: the checks of src/doctor as a table (or --json); exit 1 when any check fails. */
import { join, resolve } from 'node:path';
import { openRuntime } from '../../../runtime/select';
import { runDoctor, stackPorts, systemProbes, type DoctorInput, type DoctorReport, type PortToCheck } from '../../../doctor/doctor';
import { isMsctlError } from '../../../core/errors';
import { loadProject, infrastructureSettings, type Project } from '../../../stack/project';
import type { CliContext } from '../../context';
import type { DoctorOptions } from './command';
import { makeChalk } from '../../../ui/colors';
import { formatTable } from '../../../ui/table';

export async function doctorInput(projectDir: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<DoctorInput & { stateFile?: string; project?: Project }> {
  const infra = infrastructureSettings(env);
  const infraPorts: PortToCheck[] = [
    { port: infra.kafkaPort, what: 'kafka', env: 'MSCTL_KAFKA_PORT' },
    { port: infra.kafkaControllerPort, what: 'kafka controller', env: 'MSCTL_KAFKA_CONTROLLER_PORT' },
    { port: infra.postgresPort, what: 'postgres', env: 'MSCTL_POSTGRES_PORT' },
  ];
  try {
    const project = await loadProject(projectDir, env);
    return {
      dir: project.root,
      ports: [...infraPorts, ...project.manifests.map((m) => ({ port: m.port, what: m.name }))],
      stateFile: join(project.stateDir, 'state.json'),
      project,
    };
  } catch (error) {
    // An explicit --project-dir that is wrong is the user's mistake; no project found here is just a warning.
    if (projectDir !== undefined || !isMsctlError(error)) throw error;
    return {
      dir: resolve('.'),
      ports: infraPorts,
      projectProblem: { message: `${error.message}; only the infrastructure ports are checked`, ...(error.hint ? { hint: error.hint } : {}) },
    };
  }
}

export function renderDoctor(report: DoctorReport, color: boolean): string {
  const c = makeChalk(color);
  const label = { ok: c.green('ok'), warn: c.yellow('warn'), fail: c.red('fail') } as const;
  const rows: string[][] = [];
  for (const check of report.checks) {
    rows.push([label[check.status], check.name, check.detail]);
    if (check.status !== 'ok' && check.fix) rows.push(['', '', c.cyan(`fix: ${check.fix}`)]);
  }
  const warnings = report.checks.filter((check) => check.status === 'warn').length;
  const failures = report.checks.filter((check) => check.status === 'fail').length;
  const summary =
    failures > 0
      ? c.red(`${failures} problem${failures === 1 ? '' : 's'} to fix${warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}` : ''}`)
      : warnings > 0
        ? c.yellow(`ready, ${warnings} warning${warnings === 1 ? '' : 's'}`)
        : c.green('ready: everything msctl needs is here');
  return `${formatTable(rows, { header: ['STATUS', 'CHECK', 'DETAIL'], color })}\n\n${summary}\n`;
}

export async function run(_options: DoctorOptions, context: CliContext): Promise<number> {
  const { stateFile, project, ...input } = await doctorInput(context.projectDir);
  // What the stack's runtime reports running is the stack's, on either runtime.
  const ports = project ? async () => stackPorts(await (await openRuntime(project)).status(), project.infrastructure) : undefined;
  const report = await runDoctor(input, systemProbes({ ...(stateFile ? { stateFile } : {}), ...(ports ? { stackPorts: ports } : {}) }));
  context.stdout.write(context.json ? `${JSON.stringify(report)}\n` : renderDoctor(report, context.color));
  return report.ok ? 0 : 1;
}
