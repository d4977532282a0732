/**
 * Whether an end user's token was issued under the credentials the user has now. A token
 * carries the credentials version it was issued under (`ver`); a password change raises it and
 * a delete removes it, so older tokens stop working. Versions are asked of users and remembered
 * for `ttlMs`: across several gateway instances a revoked token may pass for that long; the
 * instance that relayed the change forgets at once.
 */
export class CredentialVersions {
  private readonly known = new Map<string, { version: number | null; at: number }>();
  private readonly pending = new Map<string, Promise<number | null>>();

  constructor(
    /** The current version of `subject`'s credentials, null when the user no longer exists; throws when it cannot tell. */
    private readonly lookup: (subject: string) => Promise<number | null>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * True when `version` is current. A lookup failure falls back to the last answer, kept for
   * another `ttlMs` so that a failing users is not asked again on every request (each failure
   * would count against its breaker twice); without an answer, it throws.
   */
  async isCurrent(subject: string, version: number): Promise<boolean> {
    const entry = this.known.get(subject);
    if (entry && this.now() - entry.at < this.ttlMs) return entry.version === version;
    try {
      return (await this.fetch(subject)) === version;
    } catch (error) {
      if (!entry) throw error;
      if (this.known.get(subject) === entry) this.known.set(subject, { version: entry.version, at: this.now() });
      return entry.version === version;
    }
  }

  forget(subject: string): void {
    this.known.delete(subject);
    // A lookup under way may have been answered before the change: later checks must not share it.
    this.pending.delete(subject);
  }

  /** The version the issuer said a change left: remembered as a lookup's answer would be, without one. */
  learn(subject: string, version: number | null): void {
    this.pending.delete(subject);
    this.remember(subject, version);
  }

  private remember(subject: string, version: number | null): void {
    if (this.known.size >= 100_000) this.known.clear();
    this.known.set(subject, { version, at: this.now() });
  }

  private fetch(subject: string): Promise<number | null> {
    const running = this.pending.get(subject);
    if (running) return running;
    const pending: Promise<number | null> = this.lookup(subject).then(
      (version) => {
        // Only a lookup that was not forgotten while it ran may be remembered.
        if (this.pending.get(subject) !== pending) return version;
        this.pending.delete(subject);
        this.remember(subject, version);
        return version;
      },
      (error: unknown) => {
        if (this.pending.get(subject) === pending) this.pending.delete(subject);
        throw error;
      },
    );
    this.pending.set(subject, pending);
    return pending;
  }
}
