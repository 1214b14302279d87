import type { Candidates } from "./candidates.js";
import type { DetectorFormat } from "./format.js";

/**
 * Ultralytics YOLOv8/YOLO11 output [1, 4+C, N], channel-major: cx, cy, w, h in input pixels, then C class
 * scores with sigmoid already applied (no objectness). Our own exported models use this layout too.
 */
export function decodeYolov8(output: Float32Array, dims: readonly number[], thresholds: Float32Array, out: Candidates): void {
  const classes = dims[1] - 4;
  const n = dims[2];
  out.clear();
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestScore = -1;
    for (let c = 0, p = 4 * n + i; c < classes; c++, p += n) {
      const v = output[p];
      if (v > bestScore) {
        bestScore = v;
        best = c;
      }
    }
    if (!(bestScore >= thresholds[best])) continue;
    out.pushCenter(output[i], output[n + i], output[2 * n + i], output[3 * n + i], bestScore, best);
  }
}

/** Ultralytics (RGB / 255, letterboxed with 114); [1, 4+C, N] has fewer channels than anchors. */
export const yolov8: DetectorFormat = {
  name: "yolov8",
  input: { color: "RGB", resize: "letterbox", scale: 1 / 255 },
  matches: (dims) => dims.length === 3 && dims[1] > 4 && dims[2] > dims[1],
  classCount: (dims) => dims[1] - 4,
  anchorCount: (dims) => dims[2],
  decode: (output, dims, _w, _h, thresholds, out) => decodeYolov8(output, dims, thresholds, out),
};
