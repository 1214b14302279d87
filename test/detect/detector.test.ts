import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import type { Worker } from "node:worker_threads";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { Detector, DetectorError } from "../../agent/detect/detector.js";
import { iou } from "../../agent/detect/non-max-suppression.js";
import { makeNhwcModel, shared, sharedMedia, sharedModel, sharedRgb } from "./fixtures.js";

// Measured once by drawing them over the images: the objects' visible extents in frame pixels.
const PERSON_JPG = { person: [190, 100, 275, 370], dog: [62, 264, 200, 350] } satisfies Record<string, Box>;
const DOG_JPG = { dog: [132, 218, 312, 538], bicycle: [130, 140, 567, 420], truck: [465, 75, 690, 170] } satisfies Record<string, Box>;

// Both small models rank the pickup as "car" first and "truck" lower (0.3–0.45), so truck gets its own bar.
const FILTER = { min_score: { default: 0.5, truck: 0.25 }, nms_iou: 0.45 };

function expectFound(detections: Detection[], label: string, ref: Box): void {
  const best = Math.max(0, ...detections.filter((d) => d.label === label).map((d) => iou([...d.box, ...ref], 0, 4)));
  expect(best, `${label} near [${ref.join(", ")}] in ${JSON.stringify(detections)}`).toBeGreaterThanOrEqual(0.5);
}

let tmp: string;
let person: Awaited<ReturnType<typeof sharedRgb>>;
let dog: Awaited<ReturnType<typeof sharedRgb>>;
beforeAll(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), "eva-detector-"));
  [person, dog] = await Promise.all([sharedRgb(sharedMedia("person.jpg")), sharedRgb(sharedMedia("dog.jpg"))]);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.each([
  { model: "yolox_nano.onnx", format: "yolox", labels: sharedModel("coco.names") },
  { model: "fastestdet.onnx", format: "fastestdet", labels: sharedModel("coco.names") },
])("Detector with $model", ({ model, format, labels }) => {
  let detector: Detector;
  const logLines: string[] = [];
  beforeAll(async () => {
    const sink = new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) });
    detector = await Detector.open({
      name: format,
      model: { path: sharedModel(model), labels },
      providers: ["cuda", "cpu"],
      threads: 1,
      logger: pino(sink),
    });
  });
  afterAll(() => detector?.close());

  it("falls back from a missing provider to cpu and says so", () => {
    expect(detector.provider).toBe("cpu");
    expect(detector.info.format).toBe(format);
    expect(logLines.some((l) => l.includes('"provider":"cuda"') && l.includes("unavailable"))).toBe(true);
    expect(logLines.some((l) => l.includes('"provider":"cpu"') && l.includes("detector ready"))).toBe(true);
  });

  it("finds the person and dog in person.jpg and the dog, bicycle and truck in dog.jpg", async () => {
    // Two frames in flight at once, as two cameras sharing the model would post them.
    const [p, d] = await Promise.all([detector.detect(person, FILTER), detector.detect(dog, FILTER)]);
    for (const [label, ref] of Object.entries(PERSON_JPG)) expectFound(p.detections, label, ref);
    for (const [label, ref] of Object.entries(DOG_JPG)) expectFound(d.detections, label, ref);
    expect(p.inferMs).toBeGreaterThan(0);
  });

  it("keeps only allow-listed labels", async () => {
    const { detections } = await detector.detect(dog, { ...FILTER, labels: ["dog"] });
    expect(detections.map((x) => x.label)).toEqual(["dog"]);
  });

  it("copies a frame in ordinary memory and gets the same answer", async () => {
    const plain = { ...dog, data: Uint8Array.from(dog.data) };
    const [a, b] = await Promise.all([detector.detect(plain, FILTER), detector.detect(dog, FILTER)]);
    expect(a.detections).toEqual(b.detections);
  });
});

describe("Detector with our own uint8 NHWC contract", () => {
  let model: string;
  beforeAll(() => {
    model = makeNhwcModel(tmp);
  });

  // A red 64×32 frame: letterboxed into 32×32 the top half is red and the bottom half 114 grey, so mean R is
  // (255 + 114) / 2 / 255 = 0.7235 — stretched it would be 1.
  const red = { data: new Uint8Array(64 * 32 * 3).map((_, i) => (i % 3 === 0 ? 255 : 0)), width: 64, height: 32 };

  it("feeds raw RGB bytes letterboxed as the metadata says, and maps the box back", async () => {
    const d = await Detector.open({ name: "signs", model: { path: model }, providers: ["cpu"], threads: 1 });
    try {
      expect(d.info).toMatchObject({ format: "yolov8", inputDtype: "uint8", inputLayout: "NHWC", inputWidth: 32, inputHeight: 32, resize: "letterbox" });
      expect(d.info.labels).toHaveLength(43);
      const { detections } = await d.detect(red, { min_score: 0.5, nms_iou: 0.45 });
      expect(detections).toHaveLength(1);
      expect(detections[0].label).toBe("sign0");
      expect(detections[0].score).toBeCloseTo((255 + 114) / 2 / 255, 2);
      // model box x 12–20, y 4–12 at scale 0.5
      expect(detections[0].box).toEqual([24, 8, 40, 24]);
    } finally {
      await d.close();
    }
  });

  it("rejects a bad frame without losing the worker, and rejects everything once the worker is gone", async () => {
    const d = await Detector.open({ name: "signs", model: { path: model, resize: "stretch" }, providers: ["cpu"], threads: 1 });
    const filter = { min_score: 0.5, nms_iou: 0.45 };
    await expect(d.detect({ data: new Uint8Array(10), width: 64, height: 32 }, filter)).rejects.toMatchObject({ code: "EVA_FRAME_INVALID" });
    const { detections } = await d.detect(red, filter);
    expect(detections[0].score).toBeCloseTo(1, 2); // stretch from the config beats the metadata's letterbox

    // Frames queued when the worker dies are answered with an error, none left hanging. (One or two may finish
    // before the termination lands: a tiny model is fast, so queue many.)
    const pending = Array.from({ length: 50 }, () =>
      d.detect(red, filter).then(
        () => "answered",
        (e: { code: string }) => e.code,
      ),
    );
    await (d as unknown as { sessions: { worker: Worker }[] }).sessions[0]!.worker.terminate();
    const outcomes = await Promise.all(pending);
    expect(outcomes.filter((o) => o !== "answered").every((o) => o === "EVA_DETECTOR_DIED")).toBe(true);
    expect(outcomes.filter((o) => o === "EVA_DETECTOR_DIED").length).toBeGreaterThan(0);
    await expect(d.detect(red, filter)).rejects.toMatchObject({ code: "EVA_DETECTOR_DIED" });
    await d.close();
  });
});

describe("Detector.open on a bad model file", () => {
  it.each([
    [path.join(shared, "README.md"), "README.md"],
    [sharedMedia("dog.jpg"), "dog.jpg"],
  ])("says %s is not an ONNX model", async (file, base) => {
    const err = await Detector.open({ name: "bad", model: { path: file }, providers: ["cpu"], threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect(err).toMatchObject({ code: "EVA_MODEL_INVALID", message: expect.stringMatching(new RegExp(`^${base}: not an ONNX model \\(`)) });
  });

  it("names an unreadable labels file", async () => {
    const labels = path.join(tmp, "missing.names");
    await expect(Detector.open({ name: "bad", model: { path: sharedModel("fastestdet.onnx"), labels }, providers: ["cpu"], threads: 1 })).rejects.toMatchObject(
      { code: "EVA_LABELS_INVALID", message: expect.stringContaining(labels) },
    );
  });

  it("lists every provider that failed when none can run the model", async () => {
    await expect(Detector.open({ name: "gpu", model: { path: sharedModel("fastestdet.onnx") }, providers: ["cuda"], threads: 1 })).rejects.toMatchObject({
      code: "EVA_PROVIDER_UNAVAILABLE",
      message: expect.stringMatching(/^fastestdet\.onnx: no execution provider could run it: cuda: /),
    });
  });

  it("names a missing file", async () => {
    const missing = path.join(tmp, "nope.onnx");
    await expect(Detector.open({ name: "bad", model: { path: missing }, providers: ["cpu"], threads: 1 })).rejects.toMatchObject({
      code: "EVA_MODEL_NOT_FOUND",
      message: `${missing}: no such file`,
    });
  });
});
