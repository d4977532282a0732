/**
 * A consumer's offset commits, gathered: what its batches resolved is committed once per
 * interval, not after every batch. kafkajs with autoCommit sends an OffsetCommit after each
 * partition's batch, and under a steady trickle of events that is one broker request (and one
 * write to __consumer_offsets) per batch, for progress a handler has already made durable.
 * Handlers are idempotent by event id (docs/delivery.md), so what a crash or a rebalance leaves
 * uncommitted comes again and is applied once: the interval bounds how much comes again.
 *
 * Commits never overlap, and each one sends only the partitions that moved since the last, so
 * a partition's committed offset only moves forward. The Kafka side is injected.
 */

export interface PartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read: the last resolved one + 1, as Kafka's commits mean it. */
  offset: string;
}

export type CommitOffsets = (offsets: PartitionOffset[]) => Promise<void>;

export interface OffsetCommitterOptions {
  /** How often resolved offsets are committed; 0 commits after every batch. */
  intervalMs: number;
  /** A failed commit (a rebalance, the coordinator moving): the offsets stay pending for the next one. */
  onError: (error: unknown) => void;
}

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class OffsetCommitter {
  private readonly resolvedOffsets = new Map<string, PartitionOffset>();
  private readonly committedOffsets = new Map<string, string>();
  private commitChain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OffsetCommitterOptions) {}

  /** This record and every one before it in its partition are done. */
  resolved(topic: string, partition: number, offset: string): void {
    this.resolvedOffsets.set(key(topic, partition), { topic, partition, offset: (BigInt(offset) + 1n).toString() });
  }

  /** What is resolved and not committed yet, per partition. */
  pending(): PartitionOffset[] {
    return [...this.resolvedOffsets.entries()].filter(([name, resolved]) => this.committedOffsets.get(name) !== resolved.offset).map(([, resolved]) => resolved);
  }

  /**
   * The group gave this member a new assignment: partitions it lost are forgotten, as their new
   * owner commits them from now on (what was left uncommitted, it reads again).
   */
  assigned(assignment: Record<string, number[]>): void {
    const keep = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => key(topic, partition))));
    for (const name of [...this.resolvedOffsets.keys()]) {
      if (keep.has(name)) continue;
      this.resolvedOffsets.delete(name);
      this.committedOffsets.delete(name);
    }
  }

  /** Whether a batch that just ended should commit now rather than wait for the interval. */
  get everyBatch(): boolean {
    return this.options.intervalMs <= 0;
  }

  /** Commits on the interval through `commit` until stop(). */
  start(commit: CommitOffsets): void {
    if (this.everyBatch || this.timer) return;
    this.timer = setInterval(() => void this.flush(commit), this.options.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Commits what is pending, after any commit already under way; resolves when it is done.
   * Never rejects: a failure goes to onError and the offsets stay pending.
   */
  flush(commit: CommitOffsets): Promise<void> {
    this.commitChain = this.commitChain.then(async () => {
      const offsets = this.pending();
      if (offsets.length === 0) return;
      try {
        await commit(offsets);
        for (const { topic, partition, offset } of offsets) {
          const name = key(topic, partition);
          if (this.resolvedOffsets.has(name)) this.committedOffsets.set(name, offset);
        }
      } catch (error) {
        this.options.onError(error);
      }
    });
    return this.commitChain;
  }
}
