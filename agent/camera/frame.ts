import { rgbLuma, yuvLuma, type Luma, type Yuv420 } from "../core/pixels.js";

export type { Luma };

/** How ffmpeg writes each frame: packed RGB24, or planar YUV 4:2:0 (the frame and the scaled picture stacked). */
export type PixelFormat = "rgb24" | "yuv420p";

/** ffmpeg's picture for the detector, already at the model's content size, in the same slot as the frame. */
export type ScaledFrame =
  /** packed RGB24 rows `stride` bytes apart */
  | { width: number; height: number; data: Uint8Array; stride: number; yuv?: undefined }
  /** planar YUV 4:2:0 */
  | { width: number; height: number; yuv: Yuv420; data?: undefined; stride?: undefined };

/**
 * One decoded camera frame as the camera stage hands it on, at the camera's detect size. Its pixels are views
 * into a SharedArrayBuffer slot owned by the camera's frame pool, so the detector worker reads them without a
 * copy; they are valid until the consumer calls `release()`.
 */
export interface Frame {
  camera: string;
  /** frame number since this camera's ffmpeg was (re)started */
  seq: number;
  /** wall-clock time the last byte of the frame arrived, ms since epoch */
  time: number;
  width: number;
  height: number;
  /**
   * Packed RGB24. A camera that delivers YUV (`yuv` set) converts it the first time it is read in a frame, into
   * a buffer its slot keeps: work that needs brightness only reads `lumaOf(frame)` and converts nothing.
   */
  readonly data: Uint8Array;
  /** the frame as ffmpeg delivered it, when that is planar YUV 4:2:0 */
  yuv?: Yuv420;
  /** the brightness view, made once per slot by the pool (`lumaOf` makes one for other frames) */
  luma?: Luma;
  scaled?: ScaledFrame;
  release(): void;
}

/** A frame's brightness view: the one its pool made, or a new one. */
export function lumaOf(frame: Pick<Frame, "data" | "yuv" | "luma" | "width" | "height">): Luma {
  if (frame.luma) return frame.luma;
  return frame.yuv ? yuvLuma(frame.yuv) : rgbLuma(frame.data, frame.width, frame.height);
}
