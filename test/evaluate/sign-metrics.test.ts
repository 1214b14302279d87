import { describe, expect, it } from "vitest";
import type { Box } from "../../agent/core/geometry.js";
import {
  averagePrecision,
  matchPredictions,
  meanAveragePrecision,
  recallAtFalsePositiveRate,
  recallBySize,
  type Prediction,
  type Truth,
} from "../../agent/evaluate/detection-metrics.js";
import { categoryOfClass, frameNumber, parseGroundTruthCsv, signClassesOfLabels, signReport, type SignPrediction } from "../../agent/evaluate/sign-report.js";

const sq = (x: number, y: number, s: number): Box => [x, y, x + s, y + s];

describe("averagePrecision (VOC all-point)", () => {
  it("is 1 for a perfect ranking and 0 without a hit", () => {
    expect(averagePrecision([true, true], 2)).toBe(1);
    expect(averagePrecision([false, false], 2)).toBe(0);
    expect(averagePrecision([], 0)).toBeNaN();
  });

  it("integrates the interpolated precision over recall steps", () => {
    // hit, miss, hit of 2 truths: recall 0.5 at precision 1, recall 1 at precision 2/3
    expect(averagePrecision([true, false, true], 2)).toBeCloseTo(0.5 + 0.5 * (2 / 3), 10);
    // a late miss costs nothing; an unfound truth caps recall
    expect(averagePrecision([true, false], 2)).toBeCloseTo(0.5, 10);
    // the envelope: precision after a miss is raised by a later better point (1/2 → 2/3... here 3/4)
    expect(averagePrecision([false, true, true, true], 3)).toBeCloseTo(0.75, 10);
  });
});

describe("matchPredictions", () => {
  const truths: Truth[] = [
    { image: 0, box: sq(0, 0, 10), cls: 1 },
    { image: 0, box: sq(50, 0, 10), cls: 2 },
    { image: 1, box: sq(0, 0, 10), cls: 1 },
  ];

  it("takes the best-scoring prediction first; a duplicate, a wrong class, a poor overlap and another frame are false positives", () => {
    const preds: Prediction[] = [
      { image: 0, box: sq(1, 0, 10), score: 0.6, cls: 1 }, // duplicate of the 0.9 one
      { image: 0, box: sq(0, 0, 10), score: 0.9, cls: 1 },
      { image: 0, box: sq(50, 0, 10), score: 0.8, cls: 1 }, // right place, wrong class
      { image: 0, box: sq(56, 0, 10), score: 0.7, cls: 2 }, // IoU 4/16 = 0.25
      { image: 2, box: sq(0, 0, 10), score: 0.5, cls: 1 }, // a frame without that sign
    ];
    const m = matchPredictions(preds, truths);
    expect(m.rows.map((r) => [r.score, r.tp])).toEqual([
      [0.9, true],
      [0.8, false],
      [0.7, false],
      [0.6, false],
      [0.5, false],
    ]);
    expect(m.matchedBy).toEqual([1, -1, -1]);
  });

  it("matches at exactly the IoU threshold", () => {
    // [0,0,10,10] vs [0,0,10,5]: IoU 0.5
    const m = matchPredictions([{ image: 0, box: [0, 0, 10, 5], score: 1, cls: 1 }], truths);
    expect(m.matchedBy[0]).toBe(0);
  });
});

describe("meanAveragePrecision and the operating point", () => {
  const truths: Truth[] = [
    { image: 0, box: sq(0, 0, 10), cls: 0 },
    { image: 1, box: sq(0, 0, 10), cls: 0 },
    { image: 1, box: sq(40, 0, 10), cls: 1 },
  ];
  const preds: Prediction[] = [
    { image: 0, box: sq(0, 0, 10), score: 0.9, cls: 0 },
    { image: 0, box: sq(80, 80, 10), score: 0.8, cls: 0 }, // false positive
    { image: 1, box: sq(0, 0, 10), score: 0.7, cls: 0 },
    { image: 1, box: sq(40, 0, 10), score: 0.3, cls: 1 },
    { image: 1, box: sq(90, 0, 10), score: 0.2, cls: 1 }, // false positive
  ];

  it("averages AP over classes that have truths", () => {
    const { map, perClass } = meanAveragePrecision(preds, truths);
    expect(perClass.get(0)!.ap).toBeCloseTo(0.5 + 0.5 * (2 / 3), 10);
    expect(perClass.get(1)!.ap).toBe(1);
    expect(map).toBeCloseTo((0.5 + 0.5 * (2 / 3) + 1) / 2, 10);
  });

  it("picks the lowest pooled threshold within the false-positive budget", () => {
    // budget 0.5/img × 2 images = 1 FP: 0.9 tp, 0.8 fp, 0.7 tp, 0.3 tp, then 0.2 would be a second FP
    const op = recallAtFalsePositiveRate(preds, truths, 2, 0.5);
    expect(op).toEqual({ recall: 1, threshold: 0.3, falsePositives: 1, truePositives: 3 });
    // no FP allowed: stop before 0.8
    expect(recallAtFalsePositiveRate(preds, truths, 2, 0)).toEqual({ recall: 1 / 3, threshold: 0.9, falsePositives: 0, truePositives: 1 });
  });

  it("does not split equal scores: a tie with a false positive falls outside a zero budget", () => {
    const tied: Prediction[] = [
      { image: 0, box: sq(0, 0, 10), score: 0.9, cls: 0 },
      { image: 0, box: sq(80, 80, 10), score: 0.9, cls: 0 },
    ];
    expect(recallAtFalsePositiveRate(tied, truths, 2, 0).threshold).toBe(Infinity);
  });

  it("reports recall per size band", () => {
    const t: Truth[] = [
      { image: 0, box: sq(0, 0, 10), cls: 0 },
      { image: 0, box: sq(0, 0, 30), cls: 0 },
      { image: 0, box: [0, 0, 12, 40], cls: 0 }, // size is the longer side: 40
    ];
    const bands = recallBySize(t, [true, false, true], [0, 24, 32]);
    expect(bands.map((b) => [b.range, b.truths, b.recall])).toEqual([
      [[0, 24], 1, 1],
      [[24, 32], 1, 0],
      [[32, Infinity], 1, 1],
    ]);
  });
});

describe("the sign scorecard", () => {
  it("maps GTSRB ids to GTSDB's four categories", () => {
    const byCategory = [0, 1, 2, 3].map((c) => Array.from({ length: 43 }, (_, i) => i).filter((i) => categoryOfClass(i) === c));
    expect(byCategory[0]).toEqual([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 15, 16]);
    expect(byCategory[1]).toEqual([33, 34, 35, 36, 37, 38, 39, 40]);
    expect(byCategory[2]).toEqual([11, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);
    expect(byCategory[3]).toEqual([6, 12, 13, 14, 17, 32, 41, 42]);
  });

  it("reads model labels as 43 classes or as categories, and rejects anything else", () => {
    expect(signClassesOfLabels(Array.from({ length: 43 }, (_, i) => `c${i}`))[38]).toEqual({ classId: 38, category: 1 });
    expect(signClassesOfLabels(["prohibitory", "Mandatory", "danger", "other"]).map((c) => c.category)).toEqual([0, 1, 2, 3]);
    expect(() => signClassesOfLabels(["person"])).toThrow(/person/);
  });

  it("scores a look-alike confusion as found, right category, wrong class", () => {
    // frame 0: a 100 limit (7) called 70 (4); frame 1: keep right (38) found; a tail-light called stop (14)
    const truths = [
      { file: "frames/0.jpg", image: 0, box: sq(10, 10, 20), classId: 7 },
      { file: "frames/1.jpg", image: 1, box: sq(10, 10, 20), classId: 38 },
    ];
    const pred = (image: number, box: Box, score: number, classId: number): SignPrediction => ({
      image,
      box,
      score,
      classId,
      category: categoryOfClass(classId),
    });
    const preds = [pred(0, sq(10, 10, 20), 0.9, 4), pred(1, sq(11, 10, 20), 0.8, 38), pred(1, sq(300, 10, 20), 0.5, 14)];
    const r = signReport(preds, truths, 2, { fpPerImage: 0.5 });
    expect(r.ap50_class_agnostic).toBe(1);
    // class 7: never found (AP 0); class 38: AP 1
    expect(r.map50_43class).toBeCloseTo(0.5, 10);
    expect(r.per_class_ap50).toEqual({ "7": { ap: 0, signs: 1 }, "38": { ap: 1, signs: 1 } });
    expect(r.map50_4category).toBe(1);
    // right class within 1 FP: the 70 is a FP, the keep right a TP; the stop would be the second FP
    expect(r.recall_at_fp).toMatchObject({ recall: 0.5, threshold: 0.8, false_positives: 1, by: "class" });
    expect(r.classification_accuracy_of_found).toMatchObject({ accuracy: 0.5, found: 2 });
    expect(r.recall_by_size[0]).toEqual({ range: [0, 24], signs: 2, recall_right_class: 0.5, recall_found: 1 });
  });

  it("falls back to categories when the model names only categories", () => {
    const truths = [{ file: "a.jpg", image: 0, box: sq(0, 0, 20), classId: 7 }];
    const r = signReport([{ image: 0, box: sq(0, 0, 20), score: 0.9, classId: null, category: 0 }], truths, 1);
    expect(r.map50_43class).toBeNull();
    expect(r.map50_4category).toBe(1);
    expect(r.recall_at_fp).toMatchObject({ recall: 1, by: "category" });
  });

  it("parses gt.csv and names the line of a bad row", () => {
    const rows = parseGroundTruthCsv("file,x1,y1,x2,y2,class_id\nframes/00500.jpg,1.5,2,30,40.5,14\n\n");
    expect(rows).toEqual([{ file: "frames/00500.jpg", box: [1.5, 2, 30, 40.5], classId: 14 }]);
    expect(frameNumber(rows[0].file)).toBe(500);
    expect(() => parseGroundTruthCsv("file,x1,y1,x2,y2,class_id\na.jpg,1,2,3\n", "x/gt.csv")).toThrow(/x\/gt.csv:2:/);
    expect(() => parseGroundTruthCsv("file,x1,y1,x2,y2,class_id\na.jpg,1,2,3,4,43\n")).toThrow(/class_id outside/);
    expect(() => parseGroundTruthCsv("name,box\n")).toThrow(/header/);
  });
});
