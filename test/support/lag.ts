import type { Result } from 'execa';
import { eventually } from '@msctl/kit/testing';

type Topics = (args: string[]) => Promise<Result>;

async function topicsJson<T>(topics: Topics, args: string[]): Promise<T> {
  const result = await topics([...args, '--json']);
  if (result.exitCode !== 0) throw new Error(`msctl topics ${args.join(' ')}: ${String(result.stderr)}`);
  return JSON.parse(String(result.stdout)) as T;
}

/** Whether the group has committed every record of every partition it reads. */
async function caughtUp(topics: Topics, group: string): Promise<boolean> {
  // Per partition, not totalLag: a partition nothing was committed on yet has no lag to sum,
  // however much it holds (the stack's consumers read from the beginning).
  const { partitions } = await topicsJson<{ partitions: Array<{ committed: number | null; end: number }> }>(topics, ['groups', group]);
  return partitions.every((partition) => (partition.committed ?? 0) === partition.end);
}

/**
 * Waits until a consumer group (every group when none is named) has committed all its topics
 * hold, as `msctl topics groups` reports it; `topics` runs `msctl topics <args>` somewhere.
 * Once it has, a redelivery (and so a second effect) of anything before is ruled out.
 */
export async function drained(topics: Topics, group?: string, timeoutMs = 60_000): Promise<void> {
  await eventually(
    async () => {
      const groups = group ? [group] : (await topicsJson<{ groups: Array<{ groupId: string }> }>(topics, ['groups'])).groups.map((g) => g.groupId);
      if (groups.length === 0) return undefined;
      for (const id of groups) if (!(await caughtUp(topics, id))) return undefined;
      return true;
    },
    timeoutMs,
    group ? `the ${group} consumer group to commit all its topics hold` : 'every consumer group to commit all its topics hold',
  );
}
