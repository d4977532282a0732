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

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

/**
 * A line the Engine gave with `timestamps`: its RFC 3339 stamp (nanoseconds, cut to what a Date
 * holds) and the text the process wrote. A line without one is kept whole.
 */
export function splitDockerStamp(line: string): { text: string; time: Date | undefined } {
  const stamp = STAMP.exec(line)?.[1];
  if (stamp === undefined) return { text: line, time: undefined };
  const time = new Date(stamp.replace(/(\.\d{3})\d+/, '$1'));
  return Number.isNaN(time.getTime()) ? { text: line, time: undefined } : { text: line.slice(stamp.length + 1), time };
}

/**
 * Each container's lines, as they come. With `timestamps` the Engine stamps every line and
 * onLine gets its time (the stamp cut off); without, the time is undefined.
 */
export async function followDockerLogs(
  project: Project,
  onLine: (target: string, line: string, time: Date | undefined) => void,
  signal: AbortSignal,
  options: { tail?: number; since?: Date; follow: boolean; targets?: string[]; timestamps?: boolean },
): Promise<void> {
  const timestamps = options.timestamps ?? false;
  const emit = (target: string, line: string) => {
    if (!timestamps) return onLine(target, line, undefined);
    const { text, time } = splitDockerStamp(line);
    onLine(target, text, time);
  };
  const docker = await connectDocker();
  const containers = (await listContainers(docker, project)).filter((info) => !options.targets || options.targets.includes(targetOf(info) ?? ''));
  await Promise.all(
    containers.map(async (info) => {
      const target = targetOf(info) ?? info.Id;
      const container = docker.getContainer(info.Id);
      const logOptions = { stdout: true, stderr: true, timestamps, ...(options.tail !== undefined ? { tail: options.tail } : {}), ...(options.since ? { since: Math.floor(options.since.getTime() / 1000) } : {}) };
      if (!options.follow) {
        const buffer = (await container.logs({ ...logOptions, follow: false as const })) as unknown as Buffer;
        for (const line of demuxBuffer(buffer)) emit(target, line);
        return;
      }
      const stream = (await container.logs({ ...logOptions, follow: true as const })) as unknown as NodeJS.ReadableStream & { destroy(): void };
      const out = new PassThrough();
      docker.modem.demuxStream(stream, out, out);
      createInterface({ input: out }).on('line', (line) => emit(target, line));
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
