import type { CameraConfig } from "../config/schema.js";

/** What a camera keeps from a model's output: the config's own keys, so a camera passes `camera.detect` as is. */
export type DetectFilter = Pick<CameraConfig["detect"], "min_score" | "nms_iou" | "labels"> & Partial<Pick<CameraConfig["detect"], "nms_class_agnostic">>;

// The schema's default for min_score, used for labels a min_score map names neither directly nor via 'default'.
const FALLBACK_MIN_SCORE = 0.5;

/**
 * Per-class least score for a filter, written into `out` (one slot per class, reused across frames):
 * the label's own min_score, else the map's 'default', and Infinity for labels outside the allow-list, so
 * decoders drop unwanted classes before they reach NMS.
 */
export function classThresholds(filter: DetectFilter, labels: readonly string[], out: Float32Array): void {
  const allow = filter.labels;
  const min = filter.min_score;
  const fallback = typeof min === "number" ? min : (min.default ?? FALLBACK_MIN_SCORE);
  for (let c = 0; c < out.length; c++) {
    const label = labels[c];
    if (allow && !allow.includes(label)) {
      out[c] = Infinity;
      continue;
    }
    out[c] = typeof min === "number" ? min : (min[label] ?? fallback);
  }
}
