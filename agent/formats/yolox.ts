import type { Candidates } from "./candidates.js";
import type { DetectorFormat } from "./format.js";

const STRIDES = [8, 16, 32] as const;

/** Anchor count of a YOLOX head over an input size: one per cell of the stride 8, 16 and 32 grids. */
export function yoloxAnchorCount(inputWidth: number, inputHeight: number): number {
  let n = 0;
  for (const s of STRIDES) n += Math.floor(inputWidth / s) * Math.floor(inputHeight / s);
  return n;
}

/**
 * YOLOX raw-grid output [1, N, 5+C]: per anchor x, y, log w, log h (grid units), objectness, C class scores.
 * The ONNX export runs sigmoid on objectness and classes inside the head (YOLOX `decode_in_inference=False`
 * still does), so scores are used as they are; only the boxes need the grid. Score = obj · best class.
 * `thresholds[c]` is the least score kept for class c (Infinity drops the class).
 */
export function decodeYolox(
  output: Float32Array,
  dims: readonly number[],
  inputWidth: number,
  inputHeight: number,
  thresholds: Float32Array,
  out: Candidates,
): void {
  const n = dims[1];
  const stride = dims[2];
  const classes = stride - 5;
  if (n !== yoloxAnchorCount(inputWidth, inputHeight)) {
    throw new Error(`YOLOX output has ${n} anchors, a ${inputWidth}×${inputHeight} input gives ${yoloxAnchorCount(inputWidth, inputHeight)}`);
  }
  out.clear();
  let a = 0;
  for (const s of STRIDES) {
    const gw = Math.floor(inputWidth / s);
    const gh = Math.floor(inputHeight / s);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, a++) {
        const p = a * stride;
        const obj = output[p + 4];
        let best = 0;
        let bestScore = -1;
        for (let c = 0; c < classes; c++) {
          const v = output[p + 5 + c];
          if (v > bestScore) {
            bestScore = v;
            best = c;
          }
        }
        const score = obj * bestScore;
        if (!(score >= thresholds[best])) continue;
        const cx = (output[p] + gx) * s;
        const cy = (output[p + 1] + gy) * s;
        const w = Math.exp(output[p + 2]) * s;
        const h = Math.exp(output[p + 3]) * s;
        out.pushCenter(cx, cy, w, h, score, best);
      }
    }
  }
}

/** YOLOX (Megvii's demo feeds OpenCV's BGR, 0–255, letterboxed). */
export const yolox: DetectorFormat = {
  name: "yolox",
  input: { color: "BGR", resize: "letterbox", scale: 1 },
  matches: (dims, w, h) => dims.length === 3 && dims[1] === yoloxAnchorCount(w, h) && dims[2] > 5,
  classCount: (dims) => dims[2] - 5,
  anchorCount: (dims) => dims[1],
  decode: decodeYolox,
};
