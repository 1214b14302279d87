import type { ClassifyRule } from "../config/classify-schema.js";
import type { Detection } from "../detect/detection.js";
import type { Classifier } from "./classifier.js";
import { applyClasses, DEFAULT_CROP_PADDING, planCrops } from "./refine.js";

export interface ClassifyStep {
  rule: ClassifyRule;
  classifier: Classifier;
}

export interface FrameImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/**
 * One camera's classify stage, between detection and tracking: each rule, in order, crops its boxes from the
 * frame (the camera's full delivered resolution, not the detector's input) and renames them — one batched
 * run() per rule per frame. A later rule sees the labels an earlier one gave.
 */
export class ClassifyStage {
  constructor(private readonly steps: readonly ClassifyStep[]) {}

  get empty(): boolean {
    return this.steps.length === 0;
  }

  async refine(frame: FrameImage, detections: readonly Detection[]): Promise<{ detections: Detection[]; inferMs: number; crops: number }> {
    let current = detections.slice();
    let inferMs = 0;
    let crops = 0;
    for (const { rule, classifier } of this.steps) {
      const padding = rule.padding ?? classifier.info.cropPadding ?? DEFAULT_CROP_PADDING;
      const plan = planCrops(current, rule, padding);
      if (plan.indices.length === 0) continue;
      const result = await classifier.classify(frame, plan.regions);
      current = applyClasses(current, plan, result.classes, rule);
      inferMs += result.inferMs;
      crops += plan.indices.length;
    }
    return { detections: current, inferMs, crops };
  }
}
