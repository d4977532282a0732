/** The docker runtime's logs: each container's output through the Engine API, demultiplexed. */
import { PassThrough } from 'node:stream';
import { createInterface } from 'node:readline';
import type { Project } from '../../stack/project';
import { connectDocker, type Docker } from './engine';
import { listContainers, targetOf } from './state';

export async function lastLogLines(docker: Docker, name: string, lines = 10): Promise<string[]> {
  try {
    const buffer = (await docker.getContainer(name).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxBuffer(buffer);
  } catch {
    return [];
  }
}

/** Docker multiplexes stdout and stderr with 8-byte frame headers when there is no TTY. */
export function demuxBuffer(buffer: Buffer): string[] {
  const lines: string[] = [];
  let offset = 0;
  let text = '';
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    text += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  if (offset === 0) text = buffer.toString('utf8');
  for (const line of text.split('\n')) if (line.trim()) lines.push(line);
  return lines;
}

export async function followDockerLogs(project: Project, onLine: (target: string, line: string) => void, signal: AbortSignal, options: { tail?: number; since?: Date; follow: boolean; targets?: string[] }): Promise<void> {
  const docker = await connectDocker();
  const containers = (await listContainers(docker, project)).filter((info) => !options.targets || options.targets.includes(targetOf(info) ?? ''));
  await Promise.all(
    containers.map(async (info) => {
      const target = targetOf(info) ?? info.Id;
      const container = docker.getContainer(info.Id);
      const logOptions = { stdout: true, stderr: true, timestamps: false, ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}) };
      if (!options.follow) {
        const buffer = (await container.logs({ ...logOptions, follow: false as const })) as unknown as Buffer;
        for (const line of demuxBuffer(buffer)) onLine(target, line);
        return;
      }
      const stream = (await container.logs({ ...logOptions, follow: true as const })) as unknown as NodeJS.ReadableStream & { destroy(): void };
      const out = new PassThrough();
      docker.modem.demuxStream(stream, out, out);
      createInterface({ input: out }).on('line', (line) => onLine(target, line));
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => {
          stream.destroy();
          resolve();
        }, { once: true });
        stream.on('end', () => resolve());
      });
    }),
  );
}
