import type { Box } from "../core/geometry.js";
import type { ClassifierInfo } from "./classifier-info.js";

export type CropSpec = Pick<ClassifierInfo, "size" | "layout" | "dtype" | "color" | "scale" | "mean" | "std">;

/** The frame region a box's crop covers: the box grown by `padding` × its width and height on each side. */
export function paddedBox(box: Box, padding: number): Box {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  return [box[0] - padding * w, box[1] - padding * h, box[2] + padding * w, box[3] + padding * h];
}

/**
 * Writes one crop into slot `slot` of a batched classifier input: the padded box stretched to size × size
 * (aspect not kept, bilinear), edge pixels repeated where the padded box leaves the frame — the crop
 * scripts/training/classifier.py trains on (cv2.warpAffine, BORDER_REPLICATE: output pixel u samples
 * x1 + u·w/size). Allocates nothing; `rgb` is packed RGB24.
 */
export function writeCrop(
  rgb: Uint8Array,
  frameWidth: number,
  frameHeight: number,
  region: Box,
  spec: CropSpec,
  out: Uint8Array | Float32Array,
  slot: number,
): void {
  const { size, layout, color } = spec;
  const plane = size * size;
  const base = slot * plane * 3;
  const float = spec.dtype === "float32";
  const bgr = color === "BGR";
  const stepX = (region[2] - region[0]) / size;
  const stepY = (region[3] - region[1]) / size;
  const maxX = frameWidth - 1;
  const maxY = frameHeight - 1;
  const rowBytes = frameWidth * 3;
  for (let v = 0; v < size; v++) {
    let sy = region[1] + v * stepY;
    sy = sy < 0 ? 0 : sy > maxY ? maxY : sy;
    const y0 = Math.floor(sy);
    const y1 = y0 < maxY ? y0 + 1 : maxY;
    const fy = sy - y0;
    for (let u = 0; u < size; u++) {
      let sx = region[0] + u * stepX;
      sx = sx < 0 ? 0 : sx > maxX ? maxX : sx;
      const x0 = Math.floor(sx);
      const x1 = x0 < maxX ? x0 + 1 : maxX;
      const fx = sx - x0;
      const a = y0 * rowBytes + x0 * 3;
      const b = y0 * rowBytes + x1 * 3;
      const c = y1 * rowBytes + x0 * 3;
      const d = y1 * rowBytes + x1 * 3;
      const o = v * size + u;
      for (let ch = 0; ch < 3; ch++) {
        const top = rgb[a + ch] + (rgb[b + ch] - rgb[a + ch]) * fx;
        const bottom = rgb[c + ch] + (rgb[d + ch] - rgb[c + ch]) * fx;
        const value = top + (bottom - top) * fy;
        const dst = bgr ? 2 - ch : ch;
        const at = layout === "NCHW" ? base + dst * plane + o : base + o * 3 + dst;
        out[at] = float ? (value * spec.scale - spec.mean[dst]) / spec.std[dst] : (value + 0.5) | 0;
      }
    }
  }
}
