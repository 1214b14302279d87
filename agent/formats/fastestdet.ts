import type { Candidates } from "./candidates.js";
import type { DetectorFormat } from "./format.js";

/**
 * FastestDet output [1, 5+C, H, W], channel-major over an H×W grid: objectness (sigmoid applied), x and y
 * offsets of the centre within the cell (tanh), w and h as fractions of the input (sigmoid), C class scores
 * (softmax applied). Score = obj^0.6 · cls^0.4, the weighting of the upstream decoder
 * (dog-qiuqiu/FastestDet example/ncnn), which ranks boxes better than the plain product.
 */
export function decodeFastestdet(
  output: Float32Array,
  dims: readonly number[],
  inputWidth: number,
  inputHeight: number,
  thresholds: Float32Array,
  out: Candidates,
): void {
  const classes = dims[1] - 5;
  const gh = dims[2];
  const gw = dims[3];
  const plane = gh * gw;
  out.clear();
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      const cell = gy * gw + gx;
      let best = 0;
      let bestScore = -1;
      for (let c = 0, p = 5 * plane + cell; c < classes; c++, p += plane) {
        const v = output[p];
        if (v > bestScore) {
          bestScore = v;
          best = c;
        }
      }
      const obj = output[cell];
      if (!(obj > 0 && bestScore > 0)) continue;
      const score = obj ** 0.6 * bestScore ** 0.4;
      if (!(score >= thresholds[best])) continue;
      const cx = ((gx + Math.tanh(output[plane + cell])) / gw) * inputWidth;
      const cy = ((gy + Math.tanh(output[2 * plane + cell])) / gh) * inputHeight;
      const w = sigmoid(output[3 * plane + cell]) * inputWidth;
      const h = sigmoid(output[4 * plane + cell]) * inputHeight;
      out.pushCenter(cx, cy, w, h, score, best);
    }
  }
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** FastestDet (the upstream example feeds OpenCV's BGR / 255, stretched); its output is a 4-d grid. */
export const fastestdet: DetectorFormat = {
  name: "fastestdet",
  input: { color: "BGR", resize: "stretch", scale: 1 / 255 },
  matches: (dims) => dims.length === 4 && dims[1] > 5 && dims[2] > 0 && dims[3] > 0,
  classCount: (dims) => dims[1] - 5,
  anchorCount: (dims) => dims[2] * dims[3],
  decode: decodeFastestdet,
};
