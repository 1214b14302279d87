import type { Frame } from "./frame.js";

/**
 * Three frame slots in one SharedArrayBuffer: one being filled by ffmpeg, at most one ready, at most one held
 * by the consumer. A newer ready frame replaces an older one that was never taken, so a slow detector sees
 * the latest picture and the skip is counted, instead of frames queueing without bound.
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

  constructor(
    readonly camera: string,
    readonly width: number,
    readonly height: number,
    private readonly consume: (frame: Frame) => void,
  ) {
    const size = width * height * 3;
    const sab = new SharedArrayBuffer(size * 3);
    this.slots = [0, 1, 2].map((i) => new Uint8Array(sab, i * size, size));
    this.frames = this.slots.map((data, i) => ({
      camera,
      seq: 0,
      time: 0,
      width,
      height,
      data,
      release: () => this.release(i),
    }));
  }

  get frameBytes(): number {
    return this.slots[0]!.length;
  }

  /** Copies a chunk of ffmpeg's output into the slot being filled; completes frames as they fill. */
  write(chunk: Buffer): void {
    let pos = 0;
    const size = this.frameBytes;
    while (pos < chunk.length) {
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
  }

  private complete(): void {
    const done = this.writing;
    const frame = this.frames[done]!;
    frame.seq = this.seq++;
    frame.time = this.lastCompleteAt = Date.now();
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
  }
}
