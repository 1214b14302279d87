/** The last `size` samples of a duration, for percentiles over a recent window without unbounded memory. */
export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private count = 0;

  constructor(size = 512) {
    this.samples = new Float64Array(size);
  }

  add(ms: number): void {
    this.samples[this.next] = ms;
    this.next = (this.next + 1) % this.samples.length;
    if (this.count < this.samples.length) this.count++;
  }

  /** Nearest-rank percentiles (0–100) of the window, or nulls when empty. */
  percentiles<P extends number>(ps: readonly P[]): Record<`p${P}`, number | null> {
    const sorted = this.samples.slice(0, this.count).sort();
    const out: Record<string, number | null> = {};
    for (const p of ps) {
      out[`p${p}`] = this.count ? sorted[Math.min(this.count - 1, Math.max(0, Math.ceil((p / 100) * this.count) - 1))]! : null;
    }
    return out as Record<`p${P}`, number | null>;
  }

  /** Empties the window (e.g. at each stats interval, so figures describe that interval). */
  reset(): void {
    this.count = 0;
    this.next = 0;
  }
}
