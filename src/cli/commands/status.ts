import { localStatus, type StackStatus } from '../../runtime/local/status';
import { loadProject, type Project } from '../../stack/project';
import type { CliContext, StatusOptions } from '../context';
import { makeChalk } from '../output/colors';
import { formatTable } from '../output/table';

export function formatUptime(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export function renderStatus(status: StackStatus, color: boolean): string {
  const c = makeChalk(color);
  const stateColor = (state: string) =>
    state === 'healthy' ? c.green(state) : state === 'stopped' ? c.dim(state) : ['failed', 'unhealthy'].includes(state) ? c.red(state) : c.yellow(state);
  const rows = status.targets.map((target) => {
    const checks = Object.entries(target.checks).map(([name, result]) => `${name.split(':')[0]} ${result}`);
    const open = Object.entries(target.circuits).filter(([, state]) => state !== 'closed').map(([name, state]) => `circuit ${name} ${state}`);
    return [
      target.name,
      stateColor(target.state),
      target.health,
      target.pid === null ? '-' : String(target.pid),
      target.port === null ? '-' : String(target.port),
      formatUptime(target.uptimeSeconds),
      String(target.restarts),
      [...checks, ...open].join(', ') || '-',
    ];
  });
  const supervisor =
    status.supervisor.state === 'running'
      ? `supervisor pid ${status.supervisor.pid}`
      : status.supervisor.state === 'stale'
        ? c.yellow('supervisor is gone (killed or machine restarted): run `msctl up` to start afresh or `msctl down` to clean up')
        : 'not running (msctl up starts it)';
  const table = formatTable(rows, { header: ['NAME', 'STATE', 'HEALTH', 'PID', 'PORT', 'UPTIME', 'RESTARTS', 'DEPENDENCIES'], color, align: ['left', 'left', 'left', 'right', 'right', 'right', 'right'] });
  return `${c.bold('local runtime')} · ${status.project} · ${supervisor}\n${table}\n`;
}

async function once(project: Project, context: CliContext): Promise<StackStatus> {
  const status = await localStatus(project);
  context.stdout.write(context.json ? `${JSON.stringify(status)}\n` : renderStatus(status, context.color));
  return status;
}

export async function run(options: StatusOptions, context: CliContext): Promise<number | void> {
  const project = await loadProject(context.projectDir);
  if (!options.watch) {
    await once(project, context);
    return;
  }
  while (!context.signal.aborted) {
    if (context.isTTY && !context.json) context.stdout.write('\u001b[2J\u001b[H');
    else if (!context.json) context.stdout.write(`--- ${new Date().toISOString()}\n`);
    await once(project, context);
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 2_000);
      context.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(undefined);
      }, { once: true });
    });
  }
  return 0;
}
