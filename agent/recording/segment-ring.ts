// Which recorded segments make an event's clip, and which of them may go: pure, over wall-clock times, so the
// policy is tested without ffmpeg.

/** One segment on disk, dated by the wall clock (ms since epoch). */
export interface Segment {
  file: string;
  startMs: number;
  endMs: number;
}

/** A span of wall-clock time, ms since epoch. */
export interface Span {
  fromMs: number;
  toMs: number;
}

export interface ClipPlan {
  segments: Segment[];
  /** how much earlier than the span the clip starts: a segment starts at a key frame, the span anywhere */
  leadSeconds: number;
  /** the video the segments hold from the first one's start to the span's end (gaps between segments are not video) */
  durationSeconds: number;
}

/** The segments of the recent past, oldest first. */
export class SegmentRing {
  private segments: Segment[] = [];

  get size(): number {
    return this.segments.length;
  }

  /** the end of the newest segment, 0 when there is none */
  get latestEndMs(): number {
    return this.segments.at(-1)?.endMs ?? 0;
  }

  get oldestStartMs(): number {
    return this.segments[0]?.startMs ?? 0;
  }

  add(s: Segment): void {
    // Segments arrive in order; a restarted recorder's first one may overlap the last by the clock's jitter.
    this.segments.push(s);
  }

  /**
   * The segments holding `span`; null when none does. The clip starts where the first of them does: whole
   * segments from a key frame need no seeking, which ffmpeg does only roughly on MPEG-TS with stream copy.
   */
  plan(span: Span): ClipPlan | null {
    const segments = this.segments.filter((s) => s.endMs > span.fromMs && s.startMs < span.toMs);
    if (!segments.length) return null;
    const first = segments[0]!;
    const last = segments.at(-1)!;
    const totalMs = segments.reduce((t, s) => t + (s.endMs - s.startMs), 0);
    const durationMs = totalMs - Math.max(0, last.endMs - span.toMs);
    return { segments, leadSeconds: Math.max(0, span.fromMs - first.startMs) / 1000, durationSeconds: durationMs / 1000 };
  }

  /**
   * Takes out the segments that ended before `keepFromMs` and hold none of the `kept` spans (open events'
   * clips, clips still to cut); returns them, for their files to be deleted.
   */
  prune(keepFromMs: number, kept: readonly Span[]): Segment[] {
    const out: Segment[] = [];
    this.segments = this.segments.filter((s) => {
      const needed = s.endMs >= keepFromMs || kept.some((k) => s.endMs > k.fromMs && s.startMs < k.toMs);
      if (!needed) out.push(s);
      return needed;
    });
    return out;
  }

  /** Every segment, for the disk figures. */
  all(): readonly Segment[] {
    return this.segments;
  }

  clear(): Segment[] {
    const out = this.segments;
    this.segments = [];
    return out;
  }
}
