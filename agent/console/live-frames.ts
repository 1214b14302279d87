/** One camera's latest picture for the live view. */
export interface LiveFrame {
  jpeg: Buffer;
  /** when the frame arrived, ms since epoch */
  time: number;
  /** what the detector found in this frame; null when it did not look (detection off or failing) */
  detections?: ReadonlyArray<{ label: string; score: number; box: readonly number[] }> | null;
}

/** Asks a running camera for a JPEG of its next frame; null when the camera is not running. */
export type GrabFrame = (camera: string, timeoutMs: number) => Promise<LiveFrame> | null;

const GRAB_TIMEOUT_MS = 2500;

/**
 * The live view's frames: at most one JPEG per camera per `maxAgeMs`, however many pages watch, and only while
 * someone does (nothing is encoded between requests). A camera that has ended or stalled keeps showing its
 * last picture, with its time, instead of an error.
 */
export class LiveFrames {
  private readonly latest = new Map<string, { frame: LiveFrame; fetchedAt: number }>();
  private readonly pending = new Map<string, Promise<LiveFrame | null>>();

  constructor(
    private readonly grab: GrabFrame,
    private readonly maxAgeMs = 1000,
  ) {}

  async get(camera: string): Promise<LiveFrame | null> {
    const cached = this.latest.get(camera);
    if (cached && Date.now() - cached.fetchedAt < this.maxAgeMs) return cached.frame;
    let p = this.pending.get(camera);
    if (!p) {
      p = this.fetch(camera, cached?.frame ?? null);
      this.pending.set(camera, p);
      void p.finally(() => this.pending.delete(camera));
    }
    return p;
  }

  private async fetch(camera: string, stale: LiveFrame | null): Promise<LiveFrame | null> {
    const grabbing = this.grab(camera, GRAB_TIMEOUT_MS);
    if (!grabbing) return stale;
    try {
      const frame = await grabbing;
      this.latest.set(camera, { frame, fetchedAt: Date.now() });
      return frame;
    } catch {
      // no frame in time (stalled, ended): the last one, marked by its time
      if (stale) this.latest.set(camera, { frame: stale, fetchedAt: Date.now() });
      return stale;
    }
  }
}
