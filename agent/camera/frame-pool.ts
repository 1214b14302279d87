import type { Frame } from "./frame.js";

/** How a pool behaves when frames arrive faster than the consumer takes them. */
export interface FlowControl {
  /**
   * Live sources: false — a newer ready frame replaces an older one that was never taken (the skip is
   * counted), so a slow detector sees the latest picture. Files read as fast as possible: true — the pool
   * stops reading (ffmpeg blocks on the pipe and idles) until the consumer takes the ready frame, so every
   * frame is analysed and no CPU goes to decoding frames that would be dropped.
   */
  backpressure: boolean;
  pause(): void;
  resume(): void;
}

/**
 * Three frame slots in one SharedArrayBuffer: one being filled by ffmpeg, at most one ready, at most one held
 * by the consumer — never a queue without bound.
 */
export class FramePool {
  private readonly slots: Uint8Array[];
  private readonly frames: Frame[];
  private writing = 0;
  private ready = -1;
  private held = -1;
  private offset = 0;
  private seq = 0;
  skipped = 0;
  delivered = 0;
  /** when ffmpeg last completed a frame (taken or not), ms since epoch; a busy consumer is not a stalled camera */
  lastCompleteAt = 0;
  /** the rest of a chunk held back while a ready frame waits (backpressure only) */
  private stash: Buffer | null = null;

  constructor(
    readonly camera: string,
    readonly width: number,
    readonly height: number,
    private readonly consume: (frame: Frame) => void,
    private readonly flow: FlowControl = { backpressure: false, pause() {}, resume() {} },
    /** a frame's time from its number; default: the wall clock when its last byte arrived */
    private readonly clock: ((seq: number) => number) | null = null,
    /** the detector's picture that ffmpeg stacks under each frame (rows at the frame's width) */
    scaled?: { width: number; height: number },
  ) {
    const frameSize = width * height * 3;
    const size = frameSize + (scaled ? width * scaled.height * 3 : 0);
    const sab = new SharedArrayBuffer(size * 3);
    this.slots = [0, 1, 2].map((i) => new Uint8Array(sab, i * size, size));
    this.frames = this.slots.map((slot, i) => {
      const frame: Frame = { camera, seq: 0, time: 0, width, height, data: slot.subarray(0, frameSize), release: () => this.release(i) };
      if (scaled) {
        const stride = width * 3;
        const bytes = (scaled.height - 1) * stride + scaled.width * 3;
        frame.scaled = { data: slot.subarray(frameSize, frameSize + bytes), width: scaled.width, height: scaled.height, stride };
      }
      return frame;
    });
  }

  get frameBytes(): number {
    return this.slots[0]!.length;
  }

  /** Copies a chunk of ffmpeg's output into the slot being filled; completes frames as they fill. */
  write(chunk: Buffer): void {
    let pos = 0;
    const size = this.frameBytes;
    while (pos < chunk.length) {
      if (this.flow.backpressure && this.ready >= 0) {
        // Keep a reference to the rest (no copy) and stop reading until the waiting frame is taken.
        this.stash = chunk.subarray(pos);
        this.flow.pause();
        return;
      }
      const n = Math.min(size - this.offset, chunk.length - pos);
      this.slots[this.writing]!.set(chunk.subarray(pos, pos + n), this.offset);
      this.offset += n;
      pos += n;
      if (this.offset === size) this.complete();
    }
  }

  /** Drops a partly written frame (ffmpeg restarted mid-frame). */
  resetPartial(): void {
    this.offset = 0;
    this.seq = 0;
    this.stash = null;
  }

  /** no frame waits in the pool: everything ffmpeg wrote has been handed on */
  get drained(): boolean {
    return this.stash === null && this.ready < 0;
  }

  /** true while reading is paused because a frame waits for the consumer: not a stalled camera */
  get waiting(): boolean {
    return this.stash !== null;
  }

  private complete(): void {
    const done = this.writing;
    const frame = this.frames[done]!;
    frame.seq = this.seq++;
    this.lastCompleteAt = Date.now();
    frame.time = this.clock ? this.clock(frame.seq) : this.lastCompleteAt;
    if (this.ready >= 0) this.skipped++;
    this.ready = done;
    this.writing = this.freeSlot();
    this.offset = 0;
    this.handOff();
  }

  private freeSlot(): number {
    for (let i = 0; i < 3; i++) if (i !== this.ready && i !== this.held) return i;
    throw new Error("unreachable: three slots, at most two taken");
  }

  private handOff(): void {
    if (this.held >= 0 || this.ready < 0) return;
    this.held = this.ready;
    this.ready = -1;
    this.delivered++;
    this.consume(this.frames[this.held]!);
  }

  private release(i: number): void {
    if (this.held !== i) return;
    this.held = -1;
    this.handOff();
    if (this.stash && this.ready < 0) {
      const rest = this.stash;
      this.stash = null;
      this.write(rest);
      if (!this.stash) {
        this.lastCompleteAt = Date.now(); // the wait was the consumer's, not the camera's
        this.flow.resume();
      }
    }
  }
}
