import type { ClassifyRule } from "../config/classify-schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import type { CropClass } from "./classifier.js";
import { paddedBox } from "./crops.js";

/** Default crop margin when neither the rule nor the model says: GTSRB-style crops carry ~15 %. */
export const DEFAULT_CROP_PADDING = 0.15;

export interface CropPlan {
  /** indices into the detections, one per crop */
  indices: number[];
  /** the padded regions to crop, frame pixels */
  regions: Box[];
}

/**
 * Which detections a rule classifies: its labels (all without a list), boxes whose longer side reaches
 * min_size, at most max_crops of them, highest detector scores first.
 */
export function planCrops(detections: readonly Detection[], rule: Pick<ClassifyRule, "labels" | "min_size" | "max_crops">, padding: number): CropPlan {
  const indices: number[] = [];
  detections.forEach((d, i) => {
    if (rule.labels && !rule.labels.includes(d.label)) return;
    if (Math.max(d.box[2] - d.box[0], d.box[3] - d.box[1]) < rule.min_size) return;
    indices.push(i);
  });
  indices.sort((a, b) => detections[b].score - detections[a].score || a - b);
  indices.length = Math.min(indices.length, rule.max_crops);
  return { indices, regions: indices.map((i) => paddedBox(detections[i].box, padding)) };
}

/**
 * The detections with the classifier's answers applied: a crop whose probability reaches min_score takes the
 * classifier's label and class id (an index into the classifier's labels) and a score per `rule.score`;
 * the rest keep the detector's. Returns new objects; the input is untouched.
 */
export function applyClasses(
  detections: readonly Detection[],
  plan: CropPlan,
  classes: readonly CropClass[],
  rule: Pick<ClassifyRule, "min_score" | "score">,
): Detection[] {
  const out = detections.slice();
  plan.indices.forEach((i, k) => {
    const c = classes[k];
    if (!c || c.score < rule.min_score) return;
    const d = detections[i];
    const score = rule.score === "product" ? d.score * c.score : rule.score === "classifier" ? c.score : d.score;
    out[i] = { label: c.label, classId: c.classId, score, box: d.box };
  });
  return out;
}
