import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyDetections, singleClassifier } from "../../agent/classify/classify-stage.js";
import { Classifier } from "../../agent/classify/classifier.js";
import { paddedBox, writeCrop, type CropSpec } from "../../agent/classify/crops.js";
import { applyClasses, planCrops } from "../../agent/classify/refine.js";
import { checkConfigText } from "../../agent/check/config-check.js";
import { classifyRuleSchema } from "../../agent/config/classify-schema.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { Detector, DetectorError } from "../../agent/detect/detector.js";
import { repoRoot, sharedMedia, sharedModel, sharedRgb } from "../detect/fixtures.js";

const rule = (r: Record<string, unknown>) => classifyRuleSchema.parse({ model: "m", ...r });

describe("crops", () => {
  // A frame whose red channel is the column, green the row, blue constant: every sample tells where it came from.
  const W = 40;
  const H = 20;
  const frame = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) frame.set([x, y, 7], (y * W + x) * 3);
  const spec: CropSpec = { size: 4, layout: "NHWC", dtype: "uint8", color: "RGB", scale: 1, mean: [0, 0, 0], std: [1, 1, 1] };

  it("pads a box by a fraction of its own width and height on each side", () => {
    expect(paddedBox([10, 20, 30, 60], 0.1)).toEqual([8, 16, 32, 64]);
  });

  it("stretches the region to size × size, output pixel u sampling x1 + u·w/size (cv2.warpAffine's mapping)", () => {
    const out = new Uint8Array(2 * 4 * 4 * 3);
    writeCrop(frame, W, H, [10, 2, 18, 10], spec, out, 1);
    const px = (u: number, v: number) => Array.from(out.subarray(48 + (v * 4 + u) * 3, 48 + (v * 4 + u) * 3 + 3));
    expect(px(0, 0)).toEqual([10, 2, 7]);
    expect(px(3, 0)).toEqual([16, 2, 7]);
    expect(px(1, 3)).toEqual([12, 8, 7]);
    expect(out.subarray(0, 48).every((v) => v === 0)).toBe(true); // slot 0 untouched
  });

  it("repeats edge pixels where the padded region leaves the frame", () => {
    const out = new Uint8Array(48);
    writeCrop(frame, W, H, [-8, -8, 0, 0], spec, out, 0);
    expect(Array.from(out.subarray(0, 3))).toEqual([0, 0, 7]);
    writeCrop(frame, W, H, [36, 16, 44, 24], spec, out, 0);
    expect(Array.from(out.subarray(45, 48))).toEqual([39, 19, 7]);
  });

  it("writes planar BGR floats with scale, mean and std", () => {
    const out = new Float32Array(48);
    writeCrop(frame, W, H, [10, 2, 18, 10], { ...spec, layout: "NCHW", dtype: "float32", color: "BGR", scale: 0.5, mean: [1, 0, 0], std: [2, 1, 1] }, out, 0);
    // plane 0 is blue: (7 × 0.5 − 1) / 2; plane 2 red: 10 × 0.5
    expect(out[0]).toBeCloseTo(1.25, 6);
    expect(out[32]).toBeCloseTo(5, 6);
  });
});

describe("classify rules in the config", () => {
  it("an unknown classifier model and a bad padding are errors with their key path and line", async () => {
    const text = `device: {id: d}
models:
  coco: {path: ${sharedModel("yolox_nano.onnx")}}
cameras:
  a:
    source: rtsp://127.0.0.1:9/x
    detect: {model: coco}
    classify:
      - {model: colour}
      - {model: coco, padding: 2}
`;
    const r = await checkConfigText(text, "eva.yaml", {});
    expect(r.problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "cameras.a.classify.0.model", line: 9, message: "unknown model 'colour'; defined: coco" }),
        expect.objectContaining({ path: "cameras.a.classify.1.padding", line: 10 }),
      ]),
    );
  });

  it("zones and signs may name the classifier's labels; detect.labels only the detector's", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "eva-classify-config-"));
    try {
      execFileSync("/usr/bin/python3", [path.join(repoRoot, "test/classify/make-test-classifiers.py"), dir], { stdio: "pipe" });
      const text = (detectLabels: string) => `device: {id: d}
models:
  coco: {path: ${sharedModel("yolox_nano.onnx")}, labels: ${sharedModel("coco.names")}}
  colour: {path: ${path.join(dir, "colour-nhwc.onnx")}}
cameras:
  a:
    source: rtsp://127.0.0.1:9/x
    detect: {model: coco, labels: [${detectLabels}]}
    classify: [{model: colour, labels: [person]}]
    signs: {labels: [red]}
`;
      expect((await checkConfigText(text("person"), "eva.yaml", {})).problems).toEqual([]);
      const bad = await checkConfigText(text("person, red"), "eva.yaml", {});
      expect(bad.problems.map((p) => [p.path, p.message])).toEqual([
        ["cameras.a.detect.labels.1", "model 'coco' has no label 'red'; did you mean 'remote', 'refrigerator'?"],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("planCrops and applyClasses", () => {
  const det = (label: string, score: number, box: Box): Detection => ({ label, classId: 0, score, box });
  const detections = [
    det("person", 0.6, [0, 0, 20, 40]),
    det("dog", 0.9, [50, 50, 90, 80]),
    det("person", 0.8, [100, 0, 104, 6]),
    det("person", 0.7, [200, 0, 230, 50]),
  ];

  it("takes the rule's labels, big enough, best first, at most max_crops", () => {
    const plan = planCrops(detections, rule({ labels: ["person"], min_size: 10, max_crops: 8 }), 0);
    expect(plan.indices).toEqual([3, 0]); // the 4×6 person is under min_size
    expect(planCrops(detections, rule({ max_crops: 2 }), 0.5).indices).toEqual([1, 3]); // default min_size 8 drops the 4×6 one
    expect(planCrops(detections, rule({ max_crops: 1 }), 0.5).regions).toEqual([[30, 35, 110, 95]]);
  });

  it("replaces label, class and score, keeps the detector's below min_score, leaves the input alone", () => {
    const plan = { indices: [3, 0], regions: [] };
    const classes = [
      { classId: 5, label: "cyclist", score: 0.5 },
      { classId: 2, label: "runner", score: 0.2 },
    ];
    const out = applyClasses(detections, plan, classes, rule({ min_score: 0.3 }));
    expect(out[3]).toEqual({ label: "cyclist", classId: 5, score: 0.35, box: [200, 0, 230, 50] });
    expect(out[0]).toBe(detections[0]);
    expect(detections[3].label).toBe("person");
    expect(applyClasses(detections, plan, classes, rule({ score: "classifier" }))[0].score).toBe(0.2);
    expect(applyClasses(detections, plan, classes, rule({ score: "detector" }))[0]).toMatchObject({ label: "runner", score: 0.6 });
  });
});

describe("the classify stage on a COCO detector (person.jpg, YOLOX-Nano)", () => {
  let tmp: string;
  let detector: Detector;
  let nhwc: Classifier;
  let nchw: Classifier;
  let frame: Awaited<ReturnType<typeof sharedRgb>>;
  let detections: Detection[];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), "eva-classify-"));
    execFileSync("/usr/bin/python3", [path.join(repoRoot, "test/classify/make-test-classifiers.py"), tmp], { stdio: "pipe" });
    frame = await sharedRgb(sharedMedia("person.jpg"));
    [detector, nhwc, nchw] = await Promise.all([
      Detector.open({ name: "coco", model: { path: sharedModel("yolox_nano.onnx"), labels: sharedModel("coco.names") }, providers: ["cpu"], threads: 1 }),
      Classifier.open({ name: "colour", path: path.join(tmp, "colour-nhwc.onnx"), providers: ["cpu"], threads: 1 }),
      Classifier.open({ name: "colour-f32", path: path.join(tmp, "colour-nchw.onnx"), providers: ["cpu"], threads: 1 }),
    ]);
    ({ detections } = await detector.detect(frame, { min_score: 0.3, nms_iou: 0.45 }));
  });
  afterAll(async () => {
    await Promise.all([detector?.close(), nhwc?.close(), nchw?.close()]);
    rmSync(tmp, { recursive: true, force: true });
  });

  it("reads labels, size, layout and padding from each model's metadata", () => {
    expect(nhwc.info).toMatchObject({ labels: ["red", "green", "blue"], size: 16, layout: "NHWC", dtype: "uint8", cropPadding: 0.1, probabilities: true });
    expect(nchw.info).toMatchObject({
      labels: ["red", "green", "blue"],
      size: 16,
      layout: "NCHW",
      dtype: "float32",
      scale: 1,
      cropPadding: undefined,
      probabilities: false,
    });
  });

  it("names each person crop by its dominant colour, with the probability the pixels give", async () => {
    expect(detections.some((d) => d.label === "person")).toBe(true);
    const rules = [rule({ labels: ["person"], score: "classifier" })];
    const { detections: refined, crops } = await classifyDetections(singleClassifier(nhwc), rules, frame, detections);
    expect(crops).toBe(detections.filter((d) => d.label === "person").length);
    detections.forEach((d, i) => {
      if (d.label !== "person") return expect(refined[i]).toEqual(d); // the dog is not the rule's
      // Independent of writeCrop: the mean colour over every pixel of the padded box.
      const [x1, y1, x2, y2] = paddedBox(d.box, 0.1).map(Math.round);
      const sum = [0, 0, 0];
      let n = 0;
      for (let y = Math.max(0, y1); y < Math.min(frame.height, y2); y++) {
        for (let x = Math.max(0, x1); x < Math.min(frame.width, x2); x++) {
          for (let c = 0; c < 3; c++) sum[c] += frame.data[(y * frame.width + x) * 3 + c];
          n++;
        }
      }
      const logits = sum.map((s) => (s / n) * 0.03);
      const e = logits.map((l) => Math.exp(l - Math.max(...logits)));
      const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
      const best = p.indexOf(Math.max(...p));
      expect(refined[i].label, JSON.stringify({ p, got: refined[i] })).toBe(["red", "green", "blue"][best]);
      expect(refined[i].score).toBeCloseTo(p[best], 1);
      expect(refined[i].box).toEqual(d.box);
    });
  });

  it("gives the same answers from the float NCHW model that takes logits (one batch each)", async () => {
    const regions = detections.map((d) => paddedBox(d.box, 0.1));
    const [a, b] = await Promise.all([nhwc.classify(frame, regions), nchw.classify(frame, regions)]);
    expect(a.classes.length).toBe(detections.length);
    expect(b.classes.map((c) => c.label)).toEqual(a.classes.map((c) => c.label));
    b.classes.forEach((c, i) => expect(c.score).toBeCloseTo(a.classes[i].score, 2));
  });

  it("refuses a detector as a classifier, naming the file and why", async () => {
    const err = await Classifier.open({ name: "oops", path: sharedModel("yolox_nano.onnx"), providers: ["cpu"], threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect(err).toMatchObject({ code: "EVA_MODEL_UNSUPPORTED" });
    expect((err as Error).message).toMatch(/yolox_nano\.onnx: output .* \[N, classes\] expected/);
    const missing = await Classifier.open({ name: "gone", path: path.join(tmp, "none.onnx"), providers: ["cpu"], threads: 1 }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: "EVA_MODEL_NOT_FOUND" });
  });
});
