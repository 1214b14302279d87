/** Restart delays 1 s → 2 s → … capped at 30 s; a source that stayed healthy for a minute starts over at 1 s. */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 30_000,
    private readonly healthyResetMs = 60_000,
  ) {}

  /** Delay before the next restart, given how long the last run was healthy (delivering frames). */
  next(healthyForMs: number): number {
    if (healthyForMs >= this.healthyResetMs) this.attempt = 0;
    const delay = Math.min(this.capMs, this.baseMs * 2 ** this.attempt);
    this.attempt++;
    return delay;
  }
}
