import type { InputSpec, Placement } from "../core/model-input.js";
import type { Yuv420 } from "../core/pixels.js";

export type { InputSpec, Placement };

/** Keeps the aspect ratio and pads bottom/right, as YOLOX's and Ultralytics' reference pre-processing do. */
export function letterbox(frameWidth: number, frameHeight: number, inputWidth: number, inputHeight: number): Placement {
  const s = Math.min(inputWidth / frameWidth, inputHeight / frameHeight);
  const contentWidth = Math.min(inputWidth, Math.max(1, Math.round(frameWidth * s)));
  const contentHeight = Math.min(inputHeight, Math.max(1, Math.round(frameHeight * s)));
  return {
    scaleX: contentWidth / frameWidth,
    scaleY: contentHeight / frameHeight,
    offsetX: 0,
    offsetY: 0,
    contentWidth,
    contentHeight,
  };
}

/** Fills the whole input, distorting the aspect ratio, as FastestDet's reference does. */
export function stretch(frameWidth: number, frameHeight: number, inputWidth: number, inputHeight: number): Placement {
  return {
    scaleX: inputWidth / frameWidth,
    scaleY: inputHeight / frameHeight,
    offsetX: 0,
    offsetY: 0,
    contentWidth: inputWidth,
    contentHeight: inputHeight,
  };
}

export function placeFrame(frameWidth: number, frameHeight: number, spec: InputSpec): Placement {
  const place = spec.resize === "letterbox" ? letterbox : stretch;
  return place(frameWidth, frameHeight, spec.width, spec.height);
}

/** The buffer `writeModelInput` needs for a spec; allocate it once and reuse it for every frame. */
export function allocateModelInput(spec: InputSpec): Float32Array | Uint8Array {
  const n = spec.width * spec.height * 3;
  return spec.dtype === "uint8" ? new Uint8Array(n) : new Float32Array(n);
}

/**
 * Bilinear resize of a packed RGB24 frame into `out` (the model's layout, channel order and scale), padding
 * outside the placement's content. Allocates nothing.
 */
export function writeModelInput(
  rgb: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  spec: InputSpec,
  placement: Placement,
  out: Float32Array | Uint8Array,
): void {
  const { width, height } = spec;
  const plane = width * height;
  const nchw = spec.layout === "NCHW";
  const integer = spec.dtype === "uint8";
  const scale = integer ? 1 : spec.scale;
  const bgr = spec.color === "BGR";
  const pad = integer ? Math.round(spec.padValue) : spec.padValue * scale;
  const { offsetX, offsetY, contentWidth, contentHeight } = placement;
  // Sample at pixel centres so both edges of the frame map onto the edges of the content area.
  const stepX = frameWidth / contentWidth;
  const stepY = frameHeight / contentHeight;
  const rowBytes = frameWidth * 3;

  for (let y = 0; y < height; y++) {
    const cy = y - offsetY;
    const inside = cy >= 0 && cy < contentHeight;
    let sy = (cy + 0.5) * stepY - 0.5;
    if (sy < 0) sy = 0;
    const y0 = Math.min(Math.floor(sy), frameHeight - 1);
    const y1 = Math.min(y0 + 1, frameHeight - 1);
    const fy = sy - y0;
    const row0 = y0 * rowBytes;
    const row1 = y1 * rowBytes;
    for (let x = 0; x < width; x++) {
      const cx = x - offsetX;
      const o = y * width + x;
      if (!inside || cx < 0 || cx >= contentWidth) {
        if (nchw) {
          out[o] = pad;
          out[o + plane] = pad;
          out[o + 2 * plane] = pad;
        } else {
          out[o * 3] = pad;
          out[o * 3 + 1] = pad;
          out[o * 3 + 2] = pad;
        }
        continue;
      }
      let sx = (cx + 0.5) * stepX - 0.5;
      if (sx < 0) sx = 0;
      const x0 = Math.min(Math.floor(sx), frameWidth - 1);
      const x1 = Math.min(x0 + 1, frameWidth - 1);
      const fx = sx - x0;
      const a = row0 + x0 * 3;
      const b = row0 + x1 * 3;
      const c = row1 + x0 * 3;
      const d = row1 + x1 * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = rgb[a + ch] + (rgb[b + ch] - rgb[a + ch]) * fx;
        const bottom = rgb[c + ch] + (rgb[d + ch] - rgb[c + ch]) * fx;
        const v = top + (bottom - top) * fy;
        const dst = bgr ? 2 - ch : ch;
        const value = integer ? (v + 0.5) | 0 : v * scale;
        if (nchw) out[o + dst * plane] = value;
        else out[o * 3 + dst] = value;
      }
    }
  }
}

/** A picture already at the model's scale (ffmpeg did the resize): packed RGB24 rows `stride` bytes apart. */
export interface ScaledPicture {
  data: Uint8Array;
  width: number;
  height: number;
  /** bytes from one row's start to the next; ≥ width × 3 */
  stride: number;
  yuv?: undefined;
}

/** The same picture as planar YUV 4:2:0 (a YUV camera's): the worker converts its colours as it converts its layout. */
export interface ScaledYuv {
  width: number;
  height: number;
  yuv: Yuv420;
  data?: undefined;
  stride?: undefined;
}

/**
 * Fills the whole input with the letterbox border colour. The border of a picture ffmpeg already scaled never
 * changes, so it is written once per content size instead of once per frame.
 */
export function fillPadding(spec: InputSpec, out: Float32Array | Uint8Array): void {
  out.fill(spec.dtype === "uint8" ? Math.round(spec.padValue) : spec.padValue * spec.scale);
}

/**
 * The convert-only path: copies a picture ffmpeg already scaled to the placement's content size into the top
 * left of `out`, converting layout, channel order and range; the border is left as `fillPadding` wrote it.
 * For a uint8 RGB NHWC model this is one copy per row (one copy in all when the rows are contiguous).
 */
export function writeScaledInput(src: ScaledPicture, spec: InputSpec, out: Float32Array | Uint8Array): void {
  const { width: w, height: h, stride, data } = src;
  const rowBytes = w * 3;
  if (spec.dtype === "uint8" && spec.layout === "NHWC" && spec.color === "RGB") {
    const dst = out as Uint8Array;
    if (stride === rowBytes && w === spec.width) {
      dst.set(data.subarray(0, rowBytes * h));
      return;
    }
    const outRow = spec.width * 3;
    for (let y = 0; y < h; y++) dst.set(data.subarray(y * stride, y * stride + rowBytes), y * outRow);
    return;
  }
  const plane = spec.width * spec.height;
  const nchw = spec.layout === "NCHW";
  const scale = spec.dtype === "uint8" ? 1 : spec.scale;
  const r = spec.color === "BGR" ? 2 : 0;
  const b = 2 - r;
  for (let y = 0; y < h; y++) {
    let s = y * stride;
    let o = y * spec.width;
    for (let x = 0; x < w; x++, s += 3, o++) {
      if (nchw) {
        out[o + r * plane] = data[s] * scale;
        out[o + plane] = data[s + 1] * scale;
        out[o + b * plane] = data[s + 2] * scale;
      } else {
        out[o * 3 + r] = data[s] * scale;
        out[o * 3 + 1] = data[s + 1] * scale;
        out[o * 3 + b] = data[s + 2] * scale;
      }
    }
  }
}

/** Whether a frame of this size fills the model input exactly, so it needs no resize at all. */
export function isIdentityPlacement(p: Placement, spec: InputSpec): boolean {
  return p.contentWidth === spec.width && p.contentHeight === spec.height && p.scaleX === 1 && p.scaleY === 1;
}
