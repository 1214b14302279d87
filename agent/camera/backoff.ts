/**
 * Restart delays 0.5 s → 1 s → 2 s → 4 s, capped at 4 s; a run that delivered frames starts over at 0.5 s.
 * The cap bounds how late a returning source is seen (a probe at most every 4 s, plus ffmpeg's connect): an
 * operator expects a camera back within seconds of its link, not the half minute a 30 s cap gave. Probing a
 * dead camera every 4 s costs one short ffmpeg start, which a 6–15 W device affords.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 500,
    private readonly capMs = 4000,
  ) {}

  /** Delay before the next restart, given how long the last run was healthy (delivering frames). */
  next(healthyForMs: number): number {
    // Frames flowed: the source is back, whatever happened before (else a flapping link would stay at the cap).
    if (healthyForMs > 0) this.attempt = 0;
    const delay = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return delay;
  }
}
