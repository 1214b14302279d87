import type { Frame } from "../camera/frame.js";
import type { Detection } from "../core/detection.js";

type Take = (frame: Frame, detections: readonly Detection[] | null) => void;

/**
 * Requests waiting for a camera's next frame (a snapshot, the live view): the frame loop serves them all at
 * once; each times out alone. `take` runs while the frame is still the camera's, so it must read it at once.
 */
export class FrameWaiters {
  private waiters: Array<{ take: Take; fail: (why: string) => void }> = [];

  constructor(private readonly camera: string) {}

  get waiting(): boolean {
    return this.waiters.length > 0;
  }

  /** Resolves with what `use` makes of the next frame served; rejects after timeoutMs or on `fail`. */
  next<T>(timeoutMs: number, use: (frame: Frame, detections: readonly Detection[] | null) => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no frame from camera ${this.camera} within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const waiter = {
        take: (frame: Frame, detections: readonly Detection[] | null): void => {
          clearTimeout(timer);
          use(frame, detections).then(resolve, reject);
        },
        fail: (why: string): void => {
          clearTimeout(timer);
          reject(new Error(why));
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Called for every frame: nothing but a length check when no one waits. */
  serve(frame: Frame, detections: readonly Detection[] | null): void {
    if (!this.waiters.length) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.take(frame, detections);
  }

  /** No frame can come now (the camera ended or stopped): every waiter fails with why. */
  fail(why: string): void {
    if (!this.waiters.length) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.fail(why);
  }
}
