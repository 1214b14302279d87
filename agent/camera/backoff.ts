/**
 * Restart delays 0.5 s → 1 s → 2 s → 3 s, capped at 3 s; a run that delivered frames starts over at 0.5 s.
 * The cap bounds how late a returning source is seen: a try at most every 3 s plus ffmpeg's connect and probe
 * (1–2 s) keeps a camera back within 5 s of its link. Trying a dead camera every 3 s costs one short ffmpeg
 * start, which a 6–15 W device affords.
 *
 * Credentials the camera refused are tried again after 15 s, doubling to 5 min: a wrong password does not heal
 * by itself, and many cameras lock the account for half an hour after a handful of failed logins.
 */
export class Backoff {
  private attempt = 0;
  private refusals = 0;
  constructor(
    private readonly baseMs = 500,
    private readonly capMs = 3000,
    private readonly refusedMs = 15_000,
    private readonly refusedCapMs = 300_000,
  ) {}

  /**
   * Delay before the next restart, given how long the last run was healthy (delivering frames) and whether the
   * camera refused its credentials.
   */
  next(healthyForMs: number, refused = false): number {
    // Frames flowed: the source is back, whatever happened before (else a flapping link would stay at the cap).
    if (healthyForMs > 0) this.attempt = this.refusals = 0;
    if (refused) return Math.min(this.refusedCapMs, this.refusedMs * 2 ** this.refusals++);
    const delay = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return delay;
  }
}
