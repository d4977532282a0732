/**
 * A service's /health document reduced to what the runtimes keep per target: overall status, each
 * check's status, each breaker's state, and why each check that does not pass says so.
 */
import type { HealthDocument, HealthSummary } from './types';

export function summarizeHealth(body: HealthDocument): HealthSummary {
  const problems: Record<string, string> = {};
  const checks: Record<string, string> = {};
  for (const [name, results] of Object.entries(body.checks ?? {})) {
    const first = results[0];
    checks[name] = first?.status ?? 'unknown';
    if (first?.status !== 'pass' && typeof first?.output === 'string' && first.output !== '') problems[name] = first.output;
  }
  return {
    status: body.status === 'pass' || body.status === 'warn' || body.status === 'fail' ? body.status : 'unknown',
    checks,
    circuits: Object.fromEntries((body.circuits ?? []).map((circuit) => [circuit.name, circuit.state])),
    problems,
  };
}

/** The consumer group a `kafka:consumer:<group>` check is about, or undefined for any other check. */
export function consumerGroupOf(check: string): string | undefined {
  return check.startsWith('kafka:consumer:') ? check.slice('kafka:consumer:'.length) : undefined;
}
