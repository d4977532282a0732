/**
 * How one fetched batch of one partition is applied, so that a record the handler can never
 * apply costs that record, not the partition:
 *
 * - A failure of the world (see failures.ts: connection, timeout, open breaker) keeps the offset:
 *   the same records are tried again after a back-off, for as long as it lasts.
 * - Any other failure splits the batch in halves, again and again, until the record at fault is
 *   alone. The good halves are applied in their own calls; since a handler's call is atomic (one
 *   transaction) or idempotent, each good record is applied exactly once.
 * - A record that fails alone goes to the dead letters: at once when the failure says it is the
 *   record's (PostgreSQL data errors, not a CloudEvent, refused by the handler's schema), after
 *   `maxAttempts` tries when the failure is unexplained (a handler that throws on it each time).
 *
 * Offsets are resolved in order, only past records that were applied or dead-lettered. The
 * Kafka side (fetch, commit, heartbeats) and time are injected: this module is tested with fakes.
 */
import type { DeadLetterCause } from './dead-letter';
import { classifyFailure, type FailureVerdict } from './failures';
import type { ConsumedRecord } from './kafka';

/** What a handler may return: records it refuses for good, which go to the dead letters. */
export interface BatchOutcome {
  rejected?: Array<{ record: ConsumedRecord; reason: string }>;
}

export type BatchHandler = (records: ConsumedRecord[]) => Promise<void | BatchOutcome>;

export interface DeadLetterItem {
  record: ConsumedRecord;
  cause: DeadLetterCause;
}

export interface RetryPolicy {
  /** Tries of one record whose failure is unexplained before it is dead-lettered. */
  maxAttempts: number;
  /** Back-off between tries: base, doubling, capped. */
  retryBaseMs: number;
  retryMaxMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 3, retryBaseMs: 250, retryMaxMs: 10_000 };

export interface BatchFailure {
  /** The first record of the records that failed. */
  record: ConsumedRecord;
  count: number;
  verdict: FailureVerdict;
  /** How the processor goes on: retry after a back-off, split, or dead-letter the record. */
  next: 'retry' | 'split' | 'dead-letter';
  retryInMs: number;
}

export interface BatchProcessorDeps {
  handle: BatchHandler;
  /**
   * Writes dead letters and resolves once Kafka acknowledged them; undefined when the consumer
   * does not dead-letter (then every failure is retried in place, and health shows the stall).
   */
  deadLetter: ((items: DeadLetterItem[]) => Promise<void>) | undefined;
  /** This record and every one before it in the partition are done (kafkajs' resolveOffset). */
  resolve: (record: ConsumedRecord) => void;
  /** False once the consumer stops or the partition is revoked: give up; what is not resolved comes again. */
  active: () => boolean;
  heartbeat: () => Promise<void>;
  /** Waits, or returns early when the consumer stops. */
  sleep: (ms: number) => Promise<void>;
  onFailure?: (failure: BatchFailure) => void;
  policy?: RetryPolicy;
}

export type BatchResult = 'done' | 'interrupted';

const backoff = (policy: RetryPolicy, attempt: number) => Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attempt - 1));

export async function processBatch(records: ConsumedRecord[], deps: BatchProcessorDeps): Promise<BatchResult> {
  const policy = deps.policy ?? DEFAULT_RETRY_POLICY;
  const deadLettering = deps.deadLetter !== undefined;
  let retries = 0;
  let resolved: ConsumedRecord | undefined;
  const resolve = (record: ConsumedRecord) => {
    resolved = record;
    deps.resolve(record);
  };

  /** Waits out a failure of the world; false when the consumer stopped meanwhile. */
  const pause = async (ms: number): Promise<boolean> => {
    await deps.sleep(ms);
    if (!deps.active()) return false;
    await deps.heartbeat();
    return deps.active();
  };

  /** Writes dead letters, waiting out Kafka being away; false when the consumer stopped first. */
  const setAside = async (items: DeadLetterItem[]): Promise<boolean> => {
    if (items.length === 0) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await deps.deadLetter!(items);
        return true;
      } catch (error) {
        const retryInMs = backoff(policy, attempt);
        deps.onFailure?.({ record: items[0]!.record, count: items.length, verdict: classifyFailure(error), next: 'retry', retryInMs });
        if (!(await pause(retryInMs))) return false;
      }
    }
  };

  // With dead letters on, a value that is not a CloudEvent never reaches the handler.
  let pending = records;
  if (deadLettering) {
    const invalid = records.filter((record) => !record.event);
    if (invalid.length > 0) {
      const items = invalid.map((record) => ({
        record,
        cause: { class: 'invalid-event' as const, code: 'invalid-event', reason: record.invalidReason ?? 'not a CloudEvent', attempts: 1 },
      }));
      if (!(await setAside(items))) return 'interrupted';
      pending = records.filter((record) => record.event);
    }
  }

  const segments: ConsumedRecord[][] = pending.length > 0 ? [pending] : [];
  const attempts = new Map<ConsumedRecord, number>();
  while (segments.length > 0) {
    if (!deps.active()) return 'interrupted';
    const segment = segments[0]!;
    let outcome: void | BatchOutcome;
    try {
      outcome = await deps.handle(segment);
    } catch (error) {
      const verdict = classifyFailure(error);
      const first = segment[0]!;
      if (verdict.kind === 'retry' || !deadLettering) {
        retries += 1;
        const retryInMs = backoff(policy, retries);
        deps.onFailure?.({ record: first, count: segment.length, verdict, next: 'retry', retryInMs });
        if (!(await pause(retryInMs))) return 'interrupted';
        continue;
      }
      if (segment.length > 1) {
        const middle = Math.ceil(segment.length / 2);
        deps.onFailure?.({ record: first, count: segment.length, verdict, next: 'split', retryInMs: 0 });
        segments.splice(0, 1, segment.slice(0, middle), segment.slice(middle));
        continue;
      }
      const tried = (attempts.get(first) ?? 0) + 1;
      attempts.set(first, tried);
      if (verdict.kind === 'suspect' && tried < policy.maxAttempts) {
        const retryInMs = backoff(policy, tried);
        deps.onFailure?.({ record: first, count: 1, verdict, next: 'retry', retryInMs });
        if (!(await pause(retryInMs))) return 'interrupted';
        continue;
      }
      deps.onFailure?.({ record: first, count: 1, verdict, next: 'dead-letter', retryInMs: 0 });
      const cause: DeadLetterCause = {
        class: verdict.kind === 'record' ? verdict.class : 'handler',
        code: verdict.code,
        reason: verdict.reason,
        attempts: tried,
      };
      if (!(await setAside([{ record: first, cause }]))) return 'interrupted';
      resolve(first);
      segments.shift();
      continue;
    }
    retries = 0;
    const rejected = outcome?.rejected ?? [];
    if (rejected.length > 0) {
      if (!deadLettering) throw new TypeError('a handler returned rejected records, but its consumer does not dead-letter (deadLetter: false)');
      const items = rejected.map(({ record, reason }) => ({ record, cause: { class: 'rejected' as const, code: 'rejected', reason, attempts: 1 } }));
      if (!(await setAside(items))) return 'interrupted';
    }
    resolve(segment.at(-1)!);
    segments.shift();
  }
  // Trailing records that never reached the handler (not CloudEvents) are done too.
  const last = records.at(-1);
  if (last && last !== resolved) resolve(last);
  return 'done';
}
