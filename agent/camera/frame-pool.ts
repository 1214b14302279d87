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
  /** reading is paused by filled() until the waiting frame is taken (backpressure only) */
  private paused = false;

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

  /** The rest of the slot being filled: where the next bytes of ffmpeg's output are read to, without a copy. */
  into(): Uint8Array {
    return this.slots[this.writing]!.subarray(this.offset);
  }

  /**
   * n bytes were read into what into() gave; completes the frame once its slot is full. Under backpressure,
   * reading stops while a completed frame waits for the consumer (ffmpeg blocks on the pipe and idles).
   */
  filled(n: number): void {
    this.offset += n;
    if (this.offset < this.frameBytes) return;
    this.complete();
    if (this.flow.backpressure && this.ready >= 0 && !this.paused) {
      this.paused = true;
      this.flow.pause();
    }
  }

  /** Drops a partly written frame (ffmpeg restarted mid-frame). */
  resetPartial(): void {
    this.offset = 0;
    this.seq = 0;
    if (this.paused) {
      this.paused = false;
      this.flow.resume();
    }
  }

  /** no frame waits in the pool: everything ffmpeg wrote has been handed on */
  get drained(): boolean {
    return !this.paused && this.ready < 0;
  }

  /** true while reading is paused because a frame waits for the consumer: not a stalled camera */
  get waiting(): boolean {
    return this.paused;
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
    if (this.paused && this.ready < 0) {
      this.paused = false;
      this.lastCompleteAt = Date.now(); // the wait was the consumer's, not the camera's
      this.flow.resume();
    }
  }
}
