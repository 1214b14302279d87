import type { ClassifyRule } from "../config/classify-schema.js";
import type { Box } from "../core/geometry.js";
import type { Detection } from "../core/detection.js";
import type { ClassifierInfo } from "./classifier-info.js";
import type { Classifier, ClassifyResult } from "./classifier.js";
import { applyClasses, DEFAULT_CROP_PADDING, planCrops } from "./refine.js";

export interface FrameImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Where the classify stage finds the classifier a rule names (the agent's classifier pool, or one model). */
export interface ClassifierSource {
  info(model: string): ClassifierInfo | null;
  classify(model: string, frame: FrameImage, regions: readonly Box[]): Promise<ClassifyResult>;
}

/** One loaded classifier as a source, answering to any model name (scripts and tests). */
export function singleClassifier(classifier: Classifier): ClassifierSource {
  return { info: () => classifier.info, classify: (_m, frame, regions) => classifier.classify(frame, regions) };
}

/**
 * A camera's classify stage, between detection and tracking: each rule, in order, crops its boxes from the
 * frame as the camera delivered it (its full detect-frame resolution, not the detector's shrunken input) and
 * names them again — one batched run() per rule per frame. A later rule sees the labels an earlier one gave.
 */
export async function classifyDetections(
  source: ClassifierSource,
  rules: readonly ClassifyRule[],
  frame: FrameImage,
  detections: readonly Detection[],
): Promise<{ detections: Detection[]; inferMs: number; crops: number }> {
  let current = detections as Detection[];
  let inferMs = 0;
  let crops = 0;
  for (const rule of rules) {
    const info = source.info(rule.model);
    const padding = rule.padding ?? info?.cropPadding ?? DEFAULT_CROP_PADDING;
    const plan = planCrops(current, rule, padding);
    if (plan.indices.length === 0) continue;
    const result = await source.classify(rule.model, frame, plan.regions);
    current = applyClasses(current, plan, result.classes, rule);
    inferMs += result.inferMs;
    crops += plan.indices.length;
  }
  return { detections: current, inferMs, crops };
}
