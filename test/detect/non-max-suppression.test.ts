import { describe, expect, it } from "vitest";
import { Candidates } from "../../agent/formats/candidates.js";
import { classThresholds } from "../../agent/detect/detect-filter.js";
import { iou, nonMaxSuppression } from "../../agent/detect/non-max-suppression.js";

function candidates(rows: [number, number, number, number, number, number][]): Candidates {
  const c = new Candidates(rows.length);
  for (const [x1, y1, x2, y2, score, cls] of rows) c.pushCenter((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, score, cls);
  return c;
}

describe("iou", () => {
  it("is overlap over union, 0 when apart", () => {
    expect(iou([0, 0, 10, 10, 5, 0, 15, 10], 0, 4)).toBeCloseTo(50 / 150);
    expect(iou([0, 0, 10, 10, 20, 20, 30, 30], 0, 4)).toBe(0);
  });
});

describe("nonMaxSuppression", () => {
  it("drops overlapping boxes of the same class only, best first", () => {
    const c = candidates([
      [0, 0, 10, 10, 0.6, 0],
      [1, 1, 11, 11, 0.9, 0], // beats the first (IoU 0.68)
      [0, 0, 10, 10, 0.7, 1], // other class: kept despite full overlap
      [50, 50, 60, 60, 0.5, 0], // apart: kept
    ]);
    const order = new Int32Array(c.capacity);
    const kept = nonMaxSuppression(c, 0.45, order);
    expect(Array.from(order.subarray(0, kept))).toEqual([1, 2, 3]);
  });

  it("class-agnostic: one object, one label — the best box of any class wins", () => {
    const c = candidates([
      [0, 0, 10, 10, 0.6, 0],
      [0, 0, 10, 10, 0.7, 1], // same place, other class, better score: the only one kept there
      [50, 50, 60, 60, 0.5, 0],
    ]);
    const order = new Int32Array(c.capacity);
    const kept = nonMaxSuppression(c, 0.45, order, true);
    expect(Array.from(order.subarray(0, kept))).toEqual([1, 2]);
  });

  it("keeps both when the overlap is under the threshold", () => {
    const c = candidates([
      [0, 0, 10, 10, 0.9, 0],
      [5, 0, 15, 10, 0.8, 0], // IoU 1/3
    ]);
    expect(nonMaxSuppression(c, 0.45, new Int32Array(2))).toBe(2);
    expect(nonMaxSuppression(c, 0.3, new Int32Array(2))).toBe(1);
  });
});

describe("classThresholds", () => {
  const labels = ["person", "car", "dog"];
  it("takes one number for every label", () => {
    const out = new Float32Array(3);
    classThresholds({ min_score: 0.4, nms_iou: 0.45 }, labels, out);
    expect(Array.from(out)).toEqual([0.4, 0.4, 0.4].map(Math.fround));
  });

  it("takes a per-label map with 'default', and drops labels outside the allow-list", () => {
    const out = new Float32Array(3);
    classThresholds({ min_score: { person: 0.7, default: 0.3 }, labels: ["person", "car"], nms_iou: 0.45 }, labels, out);
    expect(Array.from(out)).toEqual([Math.fround(0.7), Math.fround(0.3), Infinity]);
  });
});
