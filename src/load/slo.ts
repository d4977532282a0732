/**
 * Service level objectives: per group (users, ingest, notifications, analytics, a custom
 * group, or `all` for the whole run) a minimum throughput and maximum latencies. Throughput
 * counts successful (2xx) answers only: a 429 is not load held. Only the groups a run sent
 * requests to are judged.
 *
 * File (YAML or JSON):
 *   users:  { rps: 2500, p99Ms: 120 }
 *   ingest: { eventsPerSecond: 10000, p99Ms: 35 }
 *   all:    { maxErrorRate: 0.01 }
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { MsctlError } from '../core/errors';
import type { GroupResult, SloCheck, SloVerdict } from './types';

const objectiveSchema = z
  .object({
    rps: z.number().positive().optional(),
    eventsPerSecond: z.number().positive().optional(),
    p50Ms: z.number().positive().optional(),
    p90Ms: z.number().positive().optional(),
    p99Ms: z.number().positive().optional(),
    p999Ms: z.number().positive().optional(),
    maxErrorRate: z.number().min(0).max(1).optional(),
  })
  .strict();

export const sloFileSchema = z.record(z.string().min(1), objectiveSchema);
export type SloTable = z.infer<typeof sloFileSchema>;

/** The seed's table: what the stack is meant to hold. */
export const DEFAULT_SLOS: SloTable = {
  users: { rps: 2_500, p99Ms: 120 },
  ingest: { eventsPerSecond: 10_000, p99Ms: 35 },
  notifications: { rps: 5_000, p99Ms: 25 },
  analytics: { rps: 1_200, p99Ms: 400 },
};

export async function loadSloFile(file: string): Promise<SloTable> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MsctlError('USAGE', `cannot read the SLO file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new MsctlError('USAGE', `${file} cannot be parsed: ${(error as Error).message}`);
  }
  const parsed = sloFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top)'}: ${issue.message}`).join('; ');
    throw new MsctlError('USAGE', `${file} is not a valid SLO table: ${problems}`, 'per group: rps, eventsPerSecond, p50Ms, p90Ms, p99Ms, p999Ms, maxErrorRate');
  }
  return parsed.data;
}

const LATENCY: Array<[SloCheck['metric'], keyof GroupResult['latency']]> = [
  ['p50Ms', 'p50'],
  ['p90Ms', 'p90'],
  ['p99Ms', 'p99'],
  ['p999Ms', 'p999'],
];

export function evaluateSlos(table: SloTable, groups: Record<string, GroupResult>, all: GroupResult, source: string): SloVerdict {
  const checks: SloCheck[] = [];
  for (const [group, objective] of Object.entries(table)) {
    const result = group === 'all' ? all : groups[group];
    if (!result || result.requests === 0) continue;
    const add = (metric: SloCheck['metric'], kind: SloCheck['kind'], threshold: number | undefined, actual: number) => {
      if (threshold === undefined) return;
      checks.push({ group, metric, kind, threshold, actual, ok: kind === 'min' ? actual >= threshold : actual <= threshold });
    };
    add('rps', 'min', objective.rps, result.okPerSecond);
    add('eventsPerSecond', 'min', objective.eventsPerSecond, result.eventsPerSecond);
    for (const [metric, key] of LATENCY) add(metric, 'max', objective[metric as keyof typeof objective], result.latency[key]);
    add('maxErrorRate', 'max', objective.maxErrorRate, result.requests ? Math.round(((result.requests - result.ok) / result.requests) * 10_000) / 10_000 : 0);
  }
  const violations = checks.filter((check) => !check.ok).map(describeCheck);
  return { source, ok: violations.length === 0, checks, violations };
}

const UNITS: Record<SloCheck['metric'], string> = {
  rps: 'req/s (2xx)',
  eventsPerSecond: 'events/s',
  p50Ms: 'ms',
  p90Ms: 'ms',
  p99Ms: 'ms',
  p999Ms: 'ms',
  maxErrorRate: '',
};

const LABELS: Record<SloCheck['metric'], string> = {
  rps: 'throughput',
  eventsPerSecond: 'events',
  p50Ms: 'p50',
  p90Ms: 'p90',
  p99Ms: 'p99',
  p999Ms: 'p99.9',
  maxErrorRate: 'error rate',
};

export function describeCheck(check: SloCheck): string {
  const unit = UNITS[check.metric];
  const op = check.kind === 'min' ? '≥' : '≤';
  return `${check.group} ${LABELS[check.metric]} ${check.actual}${unit ? ` ${unit}` : ''} (objective ${op} ${check.threshold}${unit ? ` ${unit}` : ''})`;
}
