import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { MsctlError } from '../../core/errors';

export const targetStateSchema = z.object({
  name: z.string(),
  kind: z.enum(['infrastructure', 'service']),
  phase: z.enum(['planned', 'building', 'built', 'starting', 'waiting', 'healthy', 'running', 'unhealthy', 'restarting', 'stopping', 'stopped', 'failed']),
  pid: z.number().int().optional(),
  port: z.number().int().optional(),
  url: z.string().optional(),
  startedAt: z.string().optional(),
  restarts: z.number().int().default(0),
  health: z.enum(['pass', 'warn', 'fail', 'unknown']).default('unknown'),
  /** Per-dependency health as the service reports it ("postgres:connection": "pass"). */
  checks: z.record(z.string(), z.string()).default({}),
  /** Every circuit breaker and its state, from the last health report. */
  circuits: z.record(z.string(), z.string()).default({}),
  /** Why each check that does not pass says so ("kafka:consumer:analytics": "stalled on …"). */
  problems: z.record(z.string(), z.string()).default({}),
  lastExit: z.object({ code: z.number().nullable(), signal: z.string().nullable(), at: z.string() }).optional(),
  detail: z.string().optional(),
  /** A gateway: the instances of each service its routing table names. */
  upstreams: z.record(z.string(), z.number().int()).optional(),
  /** What the process's command line contains, to tell our process from a stranger reusing its pid. */
  commandMarker: z.string().optional(),
});

export const stackStateSchema = z.object({
  version: z.literal(1),
  runtime: z.literal('local'),
  project: z.string(),
  supervisor: z.object({
    pid: z.number().int(),
    startedAt: z.string(),
    socket: z.string(),
    /** Where the services send spans: the supervisor's trace receiver, or the user's collector. */
    otlpEndpoint: z.string().optional(),
  }),
  updatedAt: z.string(),
  targets: z.record(z.string(), targetStateSchema),
});

export type TargetState = z.infer<typeof targetStateSchema>;
export type StackState = z.infer<typeof stackStateSchema>;

export const stateFile = (stateDir: string) => join(stateDir, 'state.json');
export const socketPath = (stateDir: string) => join(stateDir, 'supervisor.sock');

/** The last written state, or undefined when no stack was started here. */
export async function readState(stateDir: string): Promise<StackState | undefined> {
  let text: string;
  try {
    text = await readFile(stateFile(stateDir), 'utf8');
  } catch {
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const result = stackStateSchema.safeParse(json);
  if (!result.success) {
    throw new MsctlError(
      'STATE_CORRUPT',
      `the stack state file ${stateFile(stateDir)} is corrupt`,
      'run `msctl down` to stop whatever it can still find and reset the state (data is kept), then `msctl up`',
    );
  }
  return result.data;
}

/** Writes atomically (temp file + rename), so a reader never sees half a file. */
export async function writeState(stateDir: string, state: StackState): Promise<void> {
  const file = stateFile(stateDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await rename(temporary, file);
}
