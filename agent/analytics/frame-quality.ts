import type { Box } from "../core/geometry.js";
import { rgbLuma, type Luma } from "../core/pixels.js";

/** Every this many bytes of the frame are sampled: enough to tell dark or frozen, cheap at any size. */
const SAMPLE_STRIDE = 97;
/** mean RGB below this is too dark to see a sign (night, a covered lens) */
const DARK_MEAN = 20;
/** the same on a YUV frame's Y plane, whose black is 16 and white 235 */
const DARK_MEAN_Y = 16 + (DARK_MEAN * 219) / 255;

export interface FrameUsability {
  dark: boolean;
  frozen: boolean;
}

/**
 * Whether a camera's frames can show anything: not dark, not frozen (a stream repeating its last picture, the
 * way a failing encoder or a stuck file does). Frozen means the sampled bytes have not changed at all for
 * `frozenMs`: real sensors always have some noise.
 */
export class FrameQuality {
  private sample: Uint8Array | null = null;
  private unchangedSince: number | null = null;

  constructor(private readonly frozenMs: number) {}

  /** `picture`: the frame's brightness view (its Y plane, or its RGB bytes), or packed RGB24 */
  observe(time: number, picture: Luma | Uint8Array): FrameUsability {
    const luma = picture instanceof Uint8Array ? null : picture;
    // RGB is sampled across its channels, a Y plane as it is
    const rgb = luma ? luma.data : (picture as Uint8Array);
    const dark = luma && luma.step === 1 ? DARK_MEAN_Y : DARK_MEAN;
    const n = Math.floor(rgb.length / SAMPLE_STRIDE);
    if (!this.sample || this.sample.length !== n) this.sample = new Uint8Array(n);
    let sum = 0;
    let same = true;
    for (let i = 0; i < n; i++) {
      const v = rgb[i * SAMPLE_STRIDE]!;
      sum += v;
      if (v !== this.sample[i]) same = false;
      this.sample[i] = v;
    }
    if (!same || this.unchangedSince === null) this.unchangedSince = time;
    return { dark: n > 0 && sum / n < dark, frozen: time - this.unchangedSince >= this.frozenMs };
  }
}

/**
 * Mean absolute horizontal + vertical gradient of the brightness inside a box (green from RGB): a blurred
 * (moving, out of focus) view of a sign scores low. Used only to compare views of one object, so no
 * normalisation is needed.
 */
export function sharpness(picture: Luma | Uint8Array, width: number, height: number, box: Box): number {
  const { data, stride, step, offset } = picture instanceof Uint8Array ? rgbLuma(picture, width, height) : picture;
  const x1 = Math.max(0, Math.floor(box[0]));
  const y1 = Math.max(0, Math.floor(box[1]));
  const x2 = Math.min(width - 1, Math.ceil(box[2]));
  const y2 = Math.min(height - 1, Math.ceil(box[3]));
  let sum = 0;
  let n = 0;
  for (let y = y1; y < y2; y++) {
    for (let x = x1; x < x2; x++) {
      const i = offset + y * stride + x * step;
      sum += Math.abs(data[i + step]! - data[i]!) + Math.abs(data[i + stride]! - data[i]!);
      n++;
    }
  }
  return n ? sum / n : 0;
}
