/**
 * What one consumer group knows of its own progress, per assigned partition, and what it says
 * in /health as `kafka:consumer:<group>`: its lag, when it last committed progress, its dead
 * letters of the last minutes; `warn` while a partition with records has not moved for
 * `stallAfterMs`, `fail` while no consumer runs. Fed by consumer.ts; the clock is injected.
 */
import type { FailureVerdict } from './failures';
import type { CheckReport, HealthStatus } from './health';
import { compareNames } from './order';

export interface ProgressOptions {
  now?: () => number;
  /** A partition with lag that has not moved for this long is stalled (health warn). */
  stallAfterMs: number;
  /** Dead letters are counted over this window (default 5 minutes). */
  deadLetterWindowMs?: number;
}

interface PartitionProgress {
  topic: string;
  partition: number;
  /** The next offset to apply (the last resolved + 1); undefined before the first batch. */
  position: number | undefined;
  /** The partition's end offset when the last batch was fetched. */
  highWatermark: number;
  /** Since when the partition has had records waiting without moving; undefined when caught up. */
  waitingSince: number | undefined;
  /** The failure holding the partition back right now. */
  blocked: { offset: string; reason: string; code: string; since: number } | undefined;
}

export interface PartitionReport {
  topic: string;
  partition: number;
  position: number | null;
  lag: number;
  stalledForMs: number | null;
  blockedOn: { offset: string; code: string; reason: string } | null;
}

export interface ConsumerCheck extends CheckReport {
  observedUnit: 'records';
  lastProgress: string | null;
  deadLetters5m: number;
  partitions: PartitionReport[];
}

const BUCKET_MS = 10_000;

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class ConsumerProgress {
  private readonly now: () => number;
  private readonly partitions = new Map<string, PartitionProgress>();
  /** Dead letters per 10-second bucket (bounded, however many there are). */
  private readonly deadLetterBuckets = new Map<number, number>();
  private lastProgressAt: number | undefined;
  private stoppedReason: string | undefined = 'not started';
  private readonly windowMs: number;

  constructor(
    readonly group: string,
    private readonly options: ProgressOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.windowMs = options.deadLetterWindowMs ?? 5 * 60_000;
  }

  /** The group (re)assigned partitions to this member: forget the others. */
  assigned(assignment: Record<string, number[]>): void {
    const keep = new Set<string>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      for (const partition of partitions) {
        keep.add(key(topic, partition));
        if (!this.partitions.has(key(topic, partition))) {
          this.partitions.set(key(topic, partition), { topic, partition, position: undefined, highWatermark: 0, waitingSince: undefined, blocked: undefined });
        }
      }
    }
    for (const name of [...this.partitions.keys()]) if (!keep.has(name)) this.partitions.delete(name);
    this.stoppedReason = undefined;
  }

  running(): void {
    this.stoppedReason = undefined;
  }

  stopped(reason: string): void {
    this.stoppedReason = reason;
  }

  fetched(topic: string, partition: number, firstOffset: number, highWatermark: number): void {
    const state = this.partitionOf(topic, partition);
    state.position ??= firstOffset;
    state.highWatermark = Math.max(state.highWatermark, highWatermark);
    if (state.highWatermark > state.position) state.waitingSince ??= this.now();
  }

  resolved(topic: string, partition: number, offset: number): void {
    const state = this.partitionOf(topic, partition);
    const now = this.now();
    state.position = offset + 1;
    state.blocked = undefined;
    state.waitingSince = state.highWatermark > state.position ? now : undefined;
    this.lastProgressAt = now;
  }

  failed(topic: string, partition: number, offset: string, verdict: FailureVerdict): void {
    const state = this.partitionOf(topic, partition);
    const since = state.blocked?.offset === offset ? state.blocked.since : this.now();
    state.blocked = { offset, reason: verdict.reason, code: verdict.code, since };
  }

  deadLettered(count: number): void {
    const now = this.now();
    const bucket = Math.floor(now / BUCKET_MS);
    this.deadLetterBuckets.set(bucket, (this.deadLetterBuckets.get(bucket) ?? 0) + count);
    this.trimDeadLetters(now);
  }

  report(): ConsumerCheck {
    const now = this.now();
    this.trimDeadLetters(now);
    const partitions = [...this.partitions.values()]
      .sort((a, b) => compareNames(a.topic, b.topic) || a.partition - b.partition)
      .map((state): PartitionReport => {
        const lag = state.position === undefined ? 0 : Math.max(0, state.highWatermark - state.position);
        const waiting = lag > 0 && state.waitingSince !== undefined ? now - state.waitingSince : null;
        return {
          topic: state.topic,
          partition: state.partition,
          position: state.position ?? null,
          lag,
          stalledForMs: waiting !== null && waiting >= this.options.stallAfterMs ? waiting : null,
          blockedOn: state.blocked ? { offset: state.blocked.offset, code: state.blocked.code, reason: state.blocked.reason } : null,
        };
      });
    const lag = partitions.reduce((sum, p) => sum + p.lag, 0);
    const stalled = partitions.filter((p) => p.stalledForMs !== null);
    let status: HealthStatus = 'pass';
    let output: string | undefined;
    if (this.stoppedReason !== undefined) {
      status = 'fail';
      output = `stopped: ${this.stoppedReason}`;
    } else if (stalled.length > 0) {
      status = 'warn';
      output = stalled.map((p) => describeStall(p)).join('; ');
    }
    return {
      status,
      observedValue: lag,
      observedUnit: 'records',
      ...(output !== undefined ? { output } : {}),
      lastProgress: this.lastProgressAt === undefined ? null : new Date(this.lastProgressAt).toISOString(),
      deadLetters5m: [...this.deadLetterBuckets.values()].reduce((sum, n) => sum + n, 0),
      partitions,
    };
  }

  private partitionOf(topic: string, partition: number): PartitionProgress {
    let state = this.partitions.get(key(topic, partition));
    if (!state) {
      state = { topic, partition, position: undefined, highWatermark: 0, waitingSince: undefined, blocked: undefined };
      this.partitions.set(key(topic, partition), state);
    }
    return state;
  }

  private trimDeadLetters(now: number): void {
    const oldest = Math.floor((now - this.windowMs) / BUCKET_MS);
    for (const bucket of this.deadLetterBuckets.keys()) if (bucket < oldest) this.deadLetterBuckets.delete(bucket);
  }
}

/** "stalled on events.processed[0] at offset 28350 for 42 s: <reason>" */
export function describeStall(p: PartitionReport): string {
  const at = p.blockedOn?.offset ?? (p.position === null ? '?' : String(p.position));
  const reason = p.blockedOn ? `: ${p.blockedOn.reason}` : '';
  return `stalled on ${p.topic}[${p.partition}] at offset ${at} for ${Math.round((p.stalledForMs ?? 0) / 1000)} s${reason}`;
}
