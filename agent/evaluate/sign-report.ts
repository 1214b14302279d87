// The traffic-sign scorecard over GTSDB-style ground truth: class-agnostic AP, 43-class mAP,
// 4-category mAP (GTSDB's super-categories), recall at ≤ 0.1 FP/image with the right class, recall by sign
// size and the classification accuracy of found signs. Pure: frames and models are the script's business.
import type { Box } from "../core/geometry.js";
import {
  matchPredictions,
  meanAveragePrecision,
  recallAtFalsePositiveRate,
  recallBySize,
  remapClasses,
  type Prediction,
  type SizeBucket,
  type Truth,
} from "./detection-metrics.js";

export const SIGN_CATEGORIES = ["prohibitory", "mandatory", "danger", "other"] as const;
export type SignCategory = (typeof SIGN_CATEGORIES)[number];

// Houben et al. 2013 (GTSDB): prohibitory 0–5, 7–10, 15, 16; mandatory 33–40; danger 11, 18–31; other the rest.
const PROHIBITORY = new Set([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16]);

/** GTSDB super-category (index into SIGN_CATEGORIES) of a GTSRB class id 0–42. */
export function categoryOfClass(classId: number): number {
  if (PROHIBITORY.has(classId)) return 0;
  if (classId >= 33 && classId <= 40) return 1;
  if (classId === 11 || (classId >= 18 && classId <= 31)) return 2;
  return 3;
}

export interface SignTruth {
  /** path relative to the gt.csv folder, e.g. frames/00500.jpg */
  file: string;
  box: Box;
  classId: number;
}

export class GroundTruthError extends Error {
  readonly code = "EVA_GT_INVALID";
}

/** `file,x1,y1,x2,y2,class_id` with a header line; errors name the line. */
export function parseGroundTruthCsv(text: string, source = "gt.csv"): SignTruth[] {
  const lines = text.split(/\r?\n/);
  const out: SignTruth[] = [];
  if (!/^file,x1,y1,x2,y2,class_id\s*$/.test(lines[0] ?? "")) {
    throw new GroundTruthError(`${source}:1: header 'file,x1,y1,x2,y2,class_id' expected, got '${(lines[0] ?? "").slice(0, 60)}'`);
  }
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    const f = line.split(",");
    const nums = f.slice(1).map(Number);
    if (f.length !== 6 || !f[0] || nums.some((n) => !Number.isFinite(n))) {
      throw new GroundTruthError(`${source}:${i + 1}: '${line.slice(0, 80)}' is not file,x1,y1,x2,y2,class_id`);
    }
    const [x1, y1, x2, y2, classId] = nums;
    if (!(x2 > x1 && y2 > y1) || !Number.isInteger(classId) || classId < 0 || classId > 42) {
      throw new GroundTruthError(`${source}:${i + 1}: empty box or class_id outside 0–42 in '${line.slice(0, 80)}'`);
    }
    out.push({ file: f[0], box: [x1, y1, x2, y2], classId });
  }
  return out;
}

/**
 * What each output of a sign model means for scoring: 43 outputs are GTSRB ids in order (our export
 * contract); outputs named after a category ("prohibitory", …) are that category only.
 */
export function signClassesOfLabels(labels: readonly string[]): { classId: number | null; category: number }[] {
  if (labels.length === 43) return labels.map((_, i) => ({ classId: i, category: categoryOfClass(i) }));
  return labels.map((l) => {
    const category = SIGN_CATEGORIES.indexOf(l.toLowerCase() as SignCategory);
    if (category < 0) {
      throw new GroundTruthError(`label '${l}' is neither one of 43 GTSRB classes nor a category (${SIGN_CATEGORIES.join(", ")})`);
    }
    return { classId: null, category };
  });
}

/** The frame number in a file name (frames/00512.jpg → 512), or undefined. */
export function frameNumber(file: string): number | undefined {
  const m = /(\d+)(?=\.[^./]+$)/.exec(file);
  return m ? Number(m[1]) : undefined;
}

export interface SignPrediction {
  image: number;
  box: Box;
  score: number;
  /** GTSRB class 0–42; null when the model only names a category */
  classId: number | null;
  /** index into SIGN_CATEGORIES */
  category: number;
}

export interface SignReport {
  images: number;
  signs: number;
  ap50_class_agnostic: number;
  /** null when the predictions carry categories only */
  map50_43class: number | null;
  map50_4category: number;
  per_class_ap50: Record<string, { ap: number; signs: number }> | null;
  per_category_ap50: Record<SignCategory, { ap: number; signs: number }>;
  /** single pooled score threshold with ≤ fpPerImage false positives per frame, right class (43 if known, else category) */
  recall_at_fp: { fp_per_image: number; recall: number; threshold: number; false_positives: number; by: "class" | "category" };
  /** at that operating point: found with the right class, and found at all (any class) */
  recall_by_size: { range: [number, number]; signs: number; recall_right_class: number; recall_found: number }[];
  /** at the class-agnostic ≤ fpPerImage operating point: share of found signs whose class (or category) is right */
  classification_accuracy_of_found: { accuracy: number; found: number; threshold: number; by: "class" | "category" };
}

export interface SignReportOptions {
  fpPerImage?: number;
  /** lower bounds of the size bands (boxSize, frame px) */
  sizeEdges?: readonly number[];
}

/** Size bands of the GTSDB README (stored 816×480 px). */
export const DEFAULT_SIZE_EDGES = [0, 24, 32, 48, 64] as const;

export function signReport(
  predictions: readonly SignPrediction[],
  truths: readonly (SignTruth & { image: number })[],
  images: number,
  opts: SignReportOptions = {},
): SignReport {
  const fpPerImage = opts.fpPerImage ?? 0.1;
  const edges = opts.sizeEdges ?? DEFAULT_SIZE_EDGES;
  const hasClasses = predictions.every((p) => p.classId !== null);
  const by = hasClasses ? "class" : "category";

  const classTruths: Truth[] = truths.map((t) => ({ image: t.image, box: t.box, cls: t.classId }));
  const categoryTruths = remapClasses(classTruths, categoryOfClass);
  const anyTruths = remapClasses(classTruths, () => 0);
  const classPreds: Prediction[] = predictions.map((p) => ({ image: p.image, box: p.box, score: p.score, cls: p.classId ?? -1 }));
  const categoryPreds: Prediction[] = predictions.map((p) => ({ image: p.image, box: p.box, score: p.score, cls: p.category }));
  const anyPreds = remapClasses(categoryPreds, () => 0);
  const [rightPreds, rightTruths] = hasClasses ? [classPreds, classTruths] : [categoryPreds, categoryTruths];

  const agnostic = meanAveragePrecision(anyPreds, anyTruths);
  const perClass = hasClasses ? meanAveragePrecision(classPreds, classTruths) : undefined;
  const perCategory = meanAveragePrecision(categoryPreds, categoryTruths);

  const op = recallAtFalsePositiveRate(rightPreds, rightTruths, images, fpPerImage);
  const kept = (ps: readonly Prediction[], thr: number) => ps.filter((p) => p.score >= thr);
  const rightFound = matchPredictions(kept(rightPreds, op.threshold), rightTruths).matchedBy.map((m) => m >= 0);
  const anyFound = matchPredictions(kept(anyPreds, op.threshold), anyTruths).matchedBy.map((m) => m >= 0);
  const bandsRight = recallBySize(rightTruths, rightFound, edges);
  const bandsAny = recallBySize(anyTruths, anyFound, edges);

  // Which class did the detector give the signs it found? Matching ignores the class, then compares it.
  const anyOp = recallAtFalsePositiveRate(anyPreds, anyTruths, images, fpPerImage);
  const anyKept = kept(anyPreds, anyOp.threshold);
  const anyKeptIndex = anyPreds.map((_, i) => i).filter((i) => anyPreds[i].score >= anyOp.threshold);
  const found = matchPredictions(anyKept, anyTruths).matchedBy;
  let correct = 0;
  let foundCount = 0;
  found.forEach((m, t) => {
    if (m < 0) return;
    foundCount++;
    if (rightPreds[anyKeptIndex[m]].cls === rightTruths[t].cls) correct++;
  });

  const named = (m: Map<number, { ap: number; truths: number }>, name: (c: number) => string) =>
    Object.fromEntries([...m].map(([c, v]) => [name(c), { ap: v.ap, signs: v.truths }]));
  return {
    images,
    signs: truths.length,
    ap50_class_agnostic: agnostic.map,
    map50_43class: perClass ? perClass.map : null,
    map50_4category: perCategory.map,
    per_class_ap50: perClass ? named(perClass.perClass, String) : null,
    per_category_ap50: named(perCategory.perClass, (c) => SIGN_CATEGORIES[c]) as SignReport["per_category_ap50"],
    recall_at_fp: { fp_per_image: fpPerImage, recall: op.recall, threshold: op.threshold, false_positives: op.falsePositives, by },
    recall_by_size: bandsRight.map((b: SizeBucket, i) => ({ range: b.range, signs: b.truths, recall_right_class: b.recall, recall_found: bandsAny[i].recall })),
    classification_accuracy_of_found: { accuracy: foundCount ? correct / foundCount : Number.NaN, found: foundCount, threshold: anyOp.threshold, by },
  };
}
