/**
 * The docker runtime's watcher, detached: `node docker-watcher.js <project-root>`. Docker's
 * restart policy brings back a container whose process crashed, but not one stopped from
 * outside (`docker kill`, `docker stop`). This watches the stack's containers die and starts
 * again those left stopped, counting each restart in .msctl/docker.json. `msctl down` stops
 * the watcher before it stops the containers.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadProject } from '../../stack/project';
import { ensureSecrets } from '../../stack/secrets';
import { connectDocker } from './engine';
import { readDockerState, writeDockerState } from './state';
import { COMPOSE, TARGET_LABEL } from './spec';

const GRACE_MS = 1_500;

async function main(): Promise<void> {
  const root = process.argv[2];
  if (!root) throw new Error('usage: docker-watcher <project-root>');
  const project = await loadProject(root);
  const docker = await connectDocker();
  // msctl's trace receiver for the containers, on the stack network's gateway address (see
  // receiverHost), taking spans only with the stack's token.
  const { otlp } = await readDockerState(project);
  if (otlp && !process.env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim()) {
    const { startTraceReceiver } = await import('../../traces/receiver');
    const { otlpToken } = await ensureSecrets(project.stateDir);
    const receiver = await startTraceReceiver({ dir: join(project.stateDir, 'traces'), token: otlpToken, host: otlp.host, port: otlp.port });
    process.stdout.write(`trace receiver on ${receiver.url}\n`);
  }
  const events = await docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${COMPOSE}.project=${project.name}`] } });
  process.stdout.write(`docker watcher ${process.pid} for ${project.name}\n`);
  let buffer = '';
  events.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (!line.trim()) continue;
      const event = JSON.parse(line) as { id: string; Actor?: { Attributes?: Record<string, string> } };
      const target = event.Actor?.Attributes?.[TARGET_LABEL] ?? event.Actor?.Attributes?.[`${COMPOSE}.service`] ?? event.id;
      setTimeout(() => void revive(event.id, target), GRACE_MS);
    }
  });
  events.on('end', () => process.exit(0));

  async function revive(id: string, target: string): Promise<void> {
    try {
      const info = await docker.getContainer(id).inspect();
      // Running again (restart policy, msctl restart) or being restarted: nothing to do.
      if (info.State.Running || info.State.Restarting) return;
      // `msctl chaos stop` keeps it stopped on purpose for a while.
      if (existsSync(join(project.stateDir, 'docker-hold', target))) return;
      await docker.getContainer(id).start();
      const state = await readDockerState(project);
      state.restarts[target] = (state.restarts[target] ?? 0) + 1;
      await writeDockerState(project, state);
      process.stdout.write(`${new Date().toISOString()} restarted ${target} (stopped from outside msctl)\n`);
    } catch (error) {
      process.stdout.write(`${new Date().toISOString()} could not restart ${target}: ${(error as Error).message}\n`);
    }
  }
  process.once('SIGTERM', () => process.exit(0));
  process.once('SIGINT', () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`docker watcher failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
