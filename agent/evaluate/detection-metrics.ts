// Detection metrics over a set of frames: greedy IoU matching, VOC all-point AP, recall at a false-positive
// budget, recall by object size. Pure functions over plain arrays, shared by `scripts/evaluate-signs.mjs`
// and its tests; classes are small integers, so a caller scores categories or "any class" by remapping them.
import { boxIou, type Box } from "../core/geometry.js";

export interface Truth {
  /** index of the frame */
  image: number;
  box: Box;
  cls: number;
}

export interface Prediction {
  image: number;
  box: Box;
  score: number;
  cls: number;
}

export { boxIou };

/** Largest side of a box: how big a sign looks, whatever its aspect. */
export function boxSize(b: Box): number {
  return Math.max(b[2] - b[0], b[3] - b[1]);
}

export interface Matching {
  /** one per prediction, in descending score order (ties keep input order) */
  rows: { score: number; cls: number; tp: boolean; image: number; prediction: number }[];
  /** per truth (input order): index of the prediction that matched it, or -1 */
  matchedBy: number[];
}

/**
 * Greedy by score, as VOC and the training evaluator do: each prediction takes the unmatched truth of its own
 * class in its frame with the highest IoU, if that IoU reaches `iouThreshold`; otherwise it is a false positive.
 */
export function matchPredictions(predictions: readonly Prediction[], truths: readonly Truth[], iouThreshold = 0.5): Matching {
  const byImage = new Map<number, number[]>();
  truths.forEach((t, i) => {
    const list = byImage.get(t.image);
    if (list) list.push(i);
    else byImage.set(t.image, [i]);
  });
  const order = predictions.map((_, i) => i).sort((a, b) => predictions[b].score - predictions[a].score || a - b);
  const matchedBy = truths.map(() => -1);
  const rows: Matching["rows"] = [];
  for (const p of order) {
    const pred = predictions[p];
    let best = -1;
    let bestIou = iouThreshold;
    for (const t of byImage.get(pred.image) ?? []) {
      if (matchedBy[t] >= 0 || truths[t].cls !== pred.cls) continue;
      const v = boxIou(pred.box, truths[t].box);
      if (v >= bestIou) {
        bestIou = v;
        best = t;
      }
    }
    if (best >= 0) matchedBy[best] = p;
    rows.push({ score: pred.score, cls: pred.cls, tp: best >= 0, image: pred.image, prediction: p });
  }
  return { rows, matchedBy };
}

/** VOC all-point interpolated AP of a ranked list of hits (best first) against `truthCount` objects; NaN without any. */
export function averagePrecision(hits: readonly boolean[], truthCount: number): number {
  if (truthCount === 0) return Number.NaN;
  const recall: number[] = [0];
  const precision: number[] = [0];
  let tp = 0;
  hits.forEach((hit, k) => {
    if (hit) tp++;
    recall.push(tp / truthCount);
    precision.push(tp / (k + 1));
  });
  recall.push(1);
  precision.push(0);
  for (let k = precision.length - 2; k >= 0; k--) precision[k] = Math.max(precision[k], precision[k + 1]);
  let ap = 0;
  for (let k = 1; k < recall.length; k++) ap += (recall[k] - recall[k - 1]) * precision[k];
  return ap;
}

export interface MeanAp {
  /** mean over the classes that have at least one truth; NaN when none has */
  map: number;
  perClass: Map<number, { ap: number; truths: number }>;
}

/** AP per class (predictions of classes without truths only count as false positives nowhere else), and their mean. */
export function meanAveragePrecision(predictions: readonly Prediction[], truths: readonly Truth[], iouThreshold = 0.5): MeanAp {
  const { rows } = matchPredictions(predictions, truths, iouThreshold);
  const counts = new Map<number, number>();
  for (const t of truths) counts.set(t.cls, (counts.get(t.cls) ?? 0) + 1);
  const perClass = new Map<number, { ap: number; truths: number }>();
  for (const [cls, n] of [...counts].sort((a, b) => a[0] - b[0])) {
    perClass.set(cls, {
      ap: averagePrecision(
        rows.filter((r) => r.cls === cls).map((r) => r.tp),
        n,
      ),
      truths: n,
    });
  }
  const aps = [...perClass.values()].map((v) => v.ap);
  return { map: aps.length ? aps.reduce((s, v) => s + v, 0) / aps.length : Number.NaN, perClass };
}

export interface OperatingPoint {
  /** share of truths matched (right class) by predictions scoring at least `threshold` */
  recall: number;
  /** lowest score kept; Infinity when not even the best prediction fits the budget */
  threshold: number;
  falsePositives: number;
  truePositives: number;
}

/**
 * The lowest single score threshold (all classes pooled) at which false positives stay within
 * `fpPerImage × images`, and the recall it gives — what an operator gets from one min_score.
 */
export function recallAtFalsePositiveRate(
  predictions: readonly Prediction[],
  truths: readonly Truth[],
  images: number,
  fpPerImage = 0.1,
  iouThreshold = 0.5,
): OperatingPoint {
  const { rows } = matchPredictions(predictions, truths, iouThreshold);
  const budget = fpPerImage * images;
  let tp = 0;
  let fp = 0;
  let best: OperatingPoint = { recall: 0, threshold: Infinity, falsePositives: 0, truePositives: 0 };
  for (let k = 0; k < rows.length; k++) {
    if (rows[k].tp) tp++;
    else fp++;
    if (fp > budget) break;
    // A threshold cannot split equal scores: only take a point where the next row scores lower.
    if (k + 1 < rows.length && rows[k + 1].score === rows[k].score) continue;
    best = { recall: truths.length ? tp / truths.length : 0, threshold: rows[k].score, falsePositives: fp, truePositives: tp };
  }
  return best;
}

export interface SizeBucket {
  /** [min, max) of boxSize in frame pixels */
  range: [number, number];
  truths: number;
  /** NaN for an empty bucket */
  recall: number;
}

/** Recall per size band of the truths, from which truths were found (`found[i]` for truths[i]). */
export function recallBySize(truths: readonly Truth[], found: readonly boolean[], edges: readonly number[]): SizeBucket[] {
  const bounds = [...edges, Infinity];
  const buckets: SizeBucket[] = [];
  for (let b = 0; b + 1 < bounds.length; b++) {
    const [lo, hi] = [bounds[b], bounds[b + 1]];
    let n = 0;
    let hit = 0;
    truths.forEach((t, i) => {
      const s = boxSize(t.box);
      if (s >= lo && s < hi) {
        n++;
        if (found[i]) hit++;
      }
    });
    buckets.push({ range: [lo, hi], truths: n, recall: n ? hit / n : Number.NaN });
  }
  return buckets;
}

/** Same predictions with every class replaced: `remap(cls)` (e.g. to a category, or 0 for "any object"). */
export function remapClasses<T extends { cls: number }>(items: readonly T[], remap: (cls: number) => number): T[] {
  return items.map((x) => ({ ...x, cls: remap(x.cls) }));
}
