import { rgbLuma, yuv420Bytes, yuv420ToRgb, yuvLuma, type Yuv420 } from "../core/pixels.js";
import type { Frame, PixelFormat, ScaledFrame } from "./frame.js";

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
  private readonly frames: PooledFrame[];
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
    format: PixelFormat = "rgb24",
  ) {
    const sab = new SharedArrayBuffer(slotBytes(width, height, scaled, format) * 3);
    const size = sab.byteLength / 3;
    this.slots = [0, 1, 2].map((i) => new Uint8Array(sab, i * size, size));
    const frameOf = format === "yuv420p" ? yuvFrame : rgbFrame;
    this.frames = this.slots.map((slot, i) => frameOf({ camera, width, height, slot, scaled, release: () => this.release(i) }));
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
    frame.fresh();
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

/** A pool's frame: `fresh()` marks its pixels new (a YUV frame's RGB is converted again when next read). */
interface PooledFrame extends Frame {
  fresh(): void;
}

/** Bytes of one slot: the frame and, stacked under it at the frame's width, the scaled picture. */
export function slotBytes(width: number, height: number, scaled: { height: number } | undefined, format: PixelFormat): number {
  const rows = height + (scaled?.height ?? 0);
  return format === "yuv420p" ? yuv420Bytes(width, rows) : width * rows * 3;
}

/** One slot of a pool: the camera's frame size, its bytes, the scaled picture stacked in it, how it goes back. */
interface Slot {
  camera: string;
  width: number;
  height: number;
  slot: Uint8Array;
  scaled: { width: number; height: number } | undefined;
  release: () => void;
}

function rgbFrame({ camera, width, height, slot, scaled, release }: Slot): PooledFrame {
  const frameSize = width * height * 3;
  const data = slot.subarray(0, frameSize);
  let s: ScaledFrame | undefined;
  if (scaled) {
    const stride = width * 3;
    const bytes = (scaled.height - 1) * stride + scaled.width * 3;
    s = { data: slot.subarray(frameSize, frameSize + bytes), width: scaled.width, height: scaled.height, stride };
  }
  return { camera, seq: 0, time: 0, width, height, data, luma: rgbLuma(data, width, height), scaled: s, release, fresh() {} };
}

/**
 * A YUV slot: ffmpeg stacks the scaled picture under the frame, so each plane holds the frame's rows, then the
 * picture's (Y at the frame's width, U and V at half of it). The RGB view is converted at most once per frame,
 * and only when something reads it (a snapshot, the live view, a crop).
 */
function yuvFrame({ camera, width, height, slot, scaled, release }: Slot): PooledFrame {
  const rows = height + (scaled?.height ?? 0);
  const cw = width / 2;
  const uBase = width * rows;
  const vBase = uBase + cw * (rows / 2);
  const plane = (base: number, bytes: number) => slot.subarray(base, base + bytes);
  const yuv: Yuv420 = {
    y: plane(0, width * height),
    u: plane(uBase, cw * (height / 2)),
    v: plane(vBase, cw * (height / 2)),
    width,
    height,
    yStride: width,
    cStride: cw,
  };
  let s: ScaledFrame | undefined;
  if (scaled) {
    const { width: sw, height: sh } = scaled;
    const yBytes = (sh - 1) * width + sw;
    const cBytes = (sh / 2 - 1) * cw + sw / 2;
    const cRow = cw * (height / 2);
    s = {
      width: sw,
      height: sh,
      yuv: {
        y: plane(width * height, yBytes),
        u: plane(uBase + cRow, cBytes),
        v: plane(vBase + cRow, cBytes),
        width: sw,
        height: sh,
        yStride: width,
        cStride: cw,
      },
    };
  }
  // The RGB copy lives in shared memory too, so a crop classifier or tiled detection reads it without a copy.
  let rgb: Uint8Array | null = null;
  let converted = false;
  return {
    camera,
    seq: 0,
    time: 0,
    width,
    height,
    get data(): Uint8Array {
      rgb ??= new Uint8Array(new SharedArrayBuffer(width * height * 3));
      if (!converted) {
        yuv420ToRgb(yuv, rgb);
        converted = true;
      }
      return rgb;
    },
    yuv,
    luma: yuvLuma(yuv),
    scaled: s,
    release,
    fresh() {
      converted = false;
    },
  };
}
