import type { Placement } from "../core/model-input.js";

/**
 * Boxes a decoder keeps before NMS, in struct-of-arrays form so one set of buffers, sized once per model,
 * serves every frame. Boxes are corners x1, y1, x2, y2 — in model-input pixels until `mapToFrame`.
 */
export class Candidates {
  readonly boxes: Float32Array;
  readonly scores: Float32Array;
  readonly classIds: Int32Array;
  count = 0;

  constructor(readonly capacity: number) {
    this.boxes = new Float32Array(capacity * 4);
    this.scores = new Float32Array(capacity);
    this.classIds = new Int32Array(capacity);
  }

  clear(): void {
    this.count = 0;
  }

  /** Adds a centre/size box; returns false when full (capacity is the model's anchor count, so only a misuse fills it). */
  pushCenter(cx: number, cy: number, w: number, h: number, score: number, classId: number): boolean {
    if (this.count >= this.capacity) return false;
    const i = this.count++;
    const b = i * 4;
    this.boxes[b] = cx - w / 2;
    this.boxes[b + 1] = cy - h / 2;
    this.boxes[b + 2] = cx + w / 2;
    this.boxes[b + 3] = cy + h / 2;
    this.scores[i] = score;
    this.classIds[i] = classId;
    return true;
  }
}

/** Moves candidate boxes from model-input pixels to frame pixels, clipped to the frame. */
export function mapToFrame(candidates: Candidates, placement: Placement, frameWidth: number, frameHeight: number): void {
  const { boxes } = candidates;
  const { scaleX, scaleY, offsetX, offsetY } = placement;
  for (let i = 0, b = 0; i < candidates.count; i++, b += 4) {
    boxes[b] = clamp((boxes[b] - offsetX) / scaleX, frameWidth);
    boxes[b + 1] = clamp((boxes[b + 1] - offsetY) / scaleY, frameHeight);
    boxes[b + 2] = clamp((boxes[b + 2] - offsetX) / scaleX, frameWidth);
    boxes[b + 3] = clamp((boxes[b + 3] - offsetY) / scaleY, frameHeight);
  }
}

function clamp(v: number, max: number): number {
  return v < 0 ? 0 : v > max ? max : v;
}
