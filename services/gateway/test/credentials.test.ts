import { describe, expect, it } from 'vitest';
import { CredentialVersions } from '../src/credentials';

/** A lookup whose answers the test sets, counting the calls, on a clock the test moves. */
function world(ttlMs = 1_000) {
  const state = { now: 0, calls: 0, versions: new Map<string, number | null>(), failing: false };
  const lookup = async (subject: string) => {
    state.calls += 1;
    if (state.failing) throw new Error('users is down');
    const version = state.versions.get(subject);
    if (version === undefined) throw new Error(`no answer for ${subject}`);
    return version;
  };
  const credentials = new CredentialVersions(lookup, ttlMs, () => state.now);
  return { state, credentials };
}

describe('CredentialVersions', () => {
  it('asks once per ttl: the answer is remembered for ttlMs, then asked again', async () => {
    const { state, credentials } = world(1_000);
    state.versions.set('ada', 1);
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    expect(await credentials.isCurrent('ada', 2)).toBe(false);
    expect(state.calls).toBe(1);

    // The password changed: tokens of version 1 keep passing until the remembered answer is too old.
    state.versions.set('ada', 2);
    state.now = 999;
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    expect(state.calls).toBe(1);
    state.now = 1_000;
    expect(await credentials.isCurrent('ada', 1)).toBe(false);
    expect(await credentials.isCurrent('ada', 2)).toBe(true);
    expect(state.calls).toBe(2);
  });

  it('remembers each subject on its own, and a deleted user (null) matches no version', async () => {
    const { state, credentials } = world();
    state.versions.set('ada', 3);
    state.versions.set('gone', null);
    expect(await credentials.isCurrent('ada', 3)).toBe(true);
    expect(await credentials.isCurrent('gone', 1)).toBe(false);
    expect(await credentials.isCurrent('gone', 0)).toBe(false);
    expect(state.calls).toBe(2);
  });

  it('forget: the next check asks again at once', async () => {
    const { state, credentials } = world(60_000);
    state.versions.set('ada', 1);
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    state.versions.set('ada', 2);
    credentials.forget('ada');
    expect(await credentials.isCurrent('ada', 1)).toBe(false);
    expect(state.calls).toBe(2);
    credentials.forget('someone-never-seen');
  });

  it('falls back to the last answer when a lookup fails, and throws when there is none', async () => {
    const { state, credentials } = world(1_000);
    state.versions.set('ada', 1);
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    state.failing = true;
    state.now = 5_000;
    const before = state.calls;
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    expect(await credentials.isCurrent('ada', 2)).toBe(false);
    // A failing users is asked once per ttl, not on every request.
    expect(state.calls).toBe(before + 1);
    state.now = 6_000;
    expect(await credentials.isCurrent('ada', 1)).toBe(true);
    expect(state.calls).toBe(before + 2);
    await expect(credentials.isCurrent('grace', 1)).rejects.toThrow('users is down');
    // Forgotten, there is nothing to fall back to.
    credentials.forget('ada');
    await expect(credentials.isCurrent('ada', 1)).rejects.toThrow('users is down');

    // Once users answers again, its answer counts.
    state.failing = false;
    state.versions.set('ada', 2);
    expect(await credentials.isCurrent('ada', 1)).toBe(false);
  });

  it('shares one lookup among concurrent checks of the same subject', async () => {
    let release: (version: number) => void = () => undefined;
    let calls = 0;
    const credentials = new CredentialVersions(
      () => {
        calls += 1;
        return new Promise<number>((resolve) => (release = resolve));
      },
      1_000,
    );
    const checks = [credentials.isCurrent('ada', 1), credentials.isCurrent('ada', 1), credentials.isCurrent('ada', 2)];
    release(1);
    expect(await Promise.all(checks)).toEqual([true, true, false]);
    expect(calls).toBe(1);
  });

  it('forget during a lookup: that answer is neither shared with later checks nor remembered', async () => {
    const answers: Array<(version: number) => void> = [];
    const credentials = new CredentialVersions(() => new Promise<number>((resolve) => answers.push(resolve)), 60_000);
    // Asked before the password changed; the change is relayed, and forgotten, while it runs.
    const before = credentials.isCurrent('ada', 1);
    credentials.forget('ada');
    const after = credentials.isCurrent('ada', 1);
    expect(answers).toHaveLength(2);
    answers[0]!(1);
    answers[1]!(2);
    expect(await before).toBe(true);
    expect(await after).toBe(false);
    expect(await credentials.isCurrent('ada', 1)).toBe(false);
    expect(answers).toHaveLength(2);
  });

  it('learn: the version told is remembered for ttlMs without a lookup, and a lookup under way is not', async () => {
    const answers: Array<(version: number) => void> = [];
    let now = 0;
    const credentials = new CredentialVersions(() => new Promise<number>((resolve) => answers.push(resolve)), 1_000, () => now);
    const before = credentials.isCurrent('ada', 1);
    credentials.learn('ada', 2);
    expect(await credentials.isCurrent('ada', 1)).toBe(false);
    expect(await credentials.isCurrent('ada', 2)).toBe(true);
    answers[0]!(1);
    expect(await before).toBe(true);
    expect(await credentials.isCurrent('ada', 2)).toBe(true);
    expect(answers).toHaveLength(1);
    now = 1_000;
    const later = credentials.isCurrent('ada', 2);
    expect(answers).toHaveLength(2);
    answers[1]!(2);
    expect(await later).toBe(true);
  });
});
