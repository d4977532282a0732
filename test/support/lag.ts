import type { Result } from 'execa';
import { eventually } from '@msctl/kit/testing';

/**
 * Waits until a consumer group has committed everything in its topics (lag 0) as
 * `msctl topics groups --json` reports it; `topics` runs `msctl topics <args>` somewhere.
 * Once it has, a redelivery (and so a second effect) of anything before is ruled out.
 */
export async function drained(topics: (args: string[]) => Promise<Result>, group: string, timeoutMs = 60_000): Promise<void> {
  await eventually(async () => {
    const { stdout } = await topics(['groups', '--json']);
    const lag = (JSON.parse(String(stdout)) as { groups: Array<{ groupId: string; totalLag: number }> }).groups.find((g) => g.groupId === group)?.totalLag;
    return lag === 0 ? true : undefined;
  }, timeoutMs, `the ${group} consumer group to drain its lag`);
}
