import type { Candidates } from "../formats/candidates.js";

/**
 * Greedy NMS: a box is dropped when a higher-scoring box of the same class (or of any class, with
 * `classAgnostic`: one physical object, one label — traffic signs) overlaps it by more than `iouThreshold`. Writes the kept candidate indices, best first, to the front of `order` (capacity at
 * least `candidates.count`) and returns how many were kept.
 */
export function nonMaxSuppression(candidates: Candidates, iouThreshold: number, order: Int32Array, classAgnostic = false): number {
  const { boxes, scores, classIds, count } = candidates;
  for (let i = 0; i < count; i++) order[i] = i;
  order.subarray(0, count).sort((a, b) => scores[b] - scores[a] || a - b);

  let kept = 0;
  for (let i = 0; i < count; i++) {
    const c = order[i];
    const cb = c * 4;
    let keep = true;
    for (let k = 0; k < kept; k++) {
      const p = order[k];
      if (!classAgnostic && classIds[p] !== classIds[c]) continue;
      if (iou(boxes, p * 4, cb) > iouThreshold) {
        keep = false;
        break;
      }
    }
    if (keep) order[kept++] = c;
  }
  return kept;
}

/** Intersection over union of two x1,y1,x2,y2 boxes stored at offsets a and b of `boxes`. */
export function iou(boxes: ArrayLike<number>, a: number, b: number): number {
  const iw = Math.min(boxes[a + 2], boxes[b + 2]) - Math.max(boxes[a], boxes[b]);
  const ih = Math.min(boxes[a + 3], boxes[b + 3]) - Math.max(boxes[a + 1], boxes[b + 1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const areaA = (boxes[a + 2] - boxes[a]) * (boxes[a + 3] - boxes[a + 1]);
  const areaB = (boxes[b + 2] - boxes[b]) * (boxes[b + 3] - boxes[b + 1]);
  return inter / (areaA + areaB - inter);
}
