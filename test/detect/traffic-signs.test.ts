import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { Detector } from "../../agent/detect/detector.js";
import { readOnnxModel } from "../../agent/detect/onnx-model-proto.js";
import { repoRoot, shared } from "../support/paths.js";

// The shipped pair on real photographs: GTSDB frames 00500-00599 are held out of all training and of every
// choice made in scripts/training (models/README.md); the GTSRB test crops were never trained on either.
const DETECTOR = process.env.EVA_SIGN_MODEL ?? path.join(repoRoot, "models/traffic-signs.onnx");
const CLASSIFIER = process.env.EVA_SIGN_CLASSIFIER ?? path.join(repoRoot, "models/sign-classifier.onnx");
const GTSDB = path.join(shared, "data/gtsdb-train");
const GTSRB = path.join(shared, "data/gtsrb");

// The operating point chosen on the validation frames 00400-00499 (models/README.md).
const DETECT_MIN_SCORE = 0.15;
const NMS_IOU = 0.45;
const SIGN_MIN_SCORE = 0.15; // detector score x classifier probability: the <= 0.1 FP/frame point on validation

// Six held-out frames picked for what they show, before the shipped model was scored on them: big and
// mid-sized signs of all four categories, and the red things the synthetic model called signs - a red car
// (00501), tail-lights in the rain right ahead (00548), red traffic lights over the road (00516).
const FRAMES = ["00501", "00515", "00516", "00548", "00557", "00567"];
const MIN_REQUIRED_PX = 24; // smaller signs are the model's known weak spot (models/README.md): not required here
// The red things in those frames (816x480 px, marked by hand): no sign may be reported on them at the operating point.
const RED_LIGHTS: Record<string, Box[]> = {
  "00501": [[380, 355, 440, 405]], // red car ahead
  "00516": [
    [228, 60, 270, 142],
    [85, 185, 158, 305],
    [550, 340, 648, 402],
  ], // red traffic lights, a red car
  "00548": [
    [310, 315, 445, 432],
    [368, 210, 418, 240],
  ], // tail-lights in the rain, red traffic lights
};
// Anywhere else, a detection off the labelled signs is allowed only below this: GTSDB leaves signs outside the 43
// classes unlabelled (blue direction signs, plates), and the synthetic model's false stops sat at 0.8-0.96.
const CONFIDENT = 0.5;

interface Truth {
  box: Box;
  classId: number;
}

function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

function groundTruth(): Map<string, Truth[]> {
  const byFrame = new Map<string, Truth[]>();
  for (const line of readFileSync(path.join(GTSDB, "gt.csv"), "utf8").trim().split("\n").slice(1)) {
    const [file, x1, y1, x2, y2, cls] = line.split(",");
    const frame = path.basename(file, ".jpg");
    const list = byFrame.get(frame) ?? [];
    list.push({ box: [+x1, +y1, +x2, +y2], classId: +cls });
    byFrame.set(frame, list);
  }
  return byFrame;
}

async function rgbOf(file: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

function metadata(file: string): Record<string, string> {
  return readOnnxModel(new Uint8Array(readFileSync(file))).metadata;
}

/**
 * The crop the classifier was trained on (scripts/training/classifier.py `cut`): the box grown by `padding` x its
 * width and height on each side, stretched to size x size, bilinear, output pixel u sampling x1 + u*w/size, edge
 * pixels repeated outside the frame. The agent's classify stage cuts the same crop.
 */
function writeCrop(rgb: Uint8Array, width: number, height: number, box: Box, padding: number, size: number, out: Uint8Array, slot: number): void {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  const x1 = box[0] - padding * w;
  const y1 = box[1] - padding * h;
  const sx = (w * (1 + 2 * padding)) / size;
  const sy = (h * (1 + 2 * padding)) / size;
  for (let v = 0; v < size; v++) {
    const fyAbs = Math.min(Math.max(y1 + v * sy, 0), height - 1);
    const y0 = Math.floor(fyAbs);
    const yb = Math.min(y0 + 1, height - 1);
    const fy = fyAbs - y0;
    for (let u = 0; u < size; u++) {
      const fxAbs = Math.min(Math.max(x1 + u * sx, 0), width - 1);
      const x0 = Math.floor(fxAbs);
      const xb = Math.min(x0 + 1, width - 1);
      const fx = fxAbs - x0;
      for (let c = 0; c < 3; c++) {
        const top = rgb[(y0 * width + x0) * 3 + c] * (1 - fx) + rgb[(y0 * width + xb) * 3 + c] * fx;
        const bottom = rgb[(yb * width + x0) * 3 + c] * (1 - fx) + rgb[(yb * width + xb) * 3 + c] * fx;
        out[((slot * size + v) * size + u) * 3 + c] = (top * (1 - fy) + bottom * fy + 0.5) | 0;
      }
    }
  }
}

async function classify(session: ort.InferenceSession, crops: Uint8Array, n: number, size: number): Promise<Float32Array> {
  const input = new ort.Tensor("uint8", crops.subarray(0, n * size * size * 3), [n, size, size, 3]);
  const out = await session.run({ [session.inputNames[0]]: input });
  return out[session.outputNames[0]].data as Float32Array;
}

describe("the shipped sign models on held-out real dashcam frames (GTSDB)", () => {
  let detector: Detector;
  let session: ort.InferenceSession;
  let labels: string[];
  let padding: number;
  let size: number;
  const truth = groundTruth();

  beforeAll(async () => {
    for (const f of [DETECTOR, CLASSIFIER, path.join(GTSDB, "gt.csv")]) expect(existsSync(f), `${f} exists`).toBe(true);
    detector = await Detector.open({ name: "signs", model: { path: DETECTOR }, providers: ["cpu"], threads: 1 });
    session = await ort.InferenceSession.create(CLASSIFIER, { intraOpNumThreads: 1, executionProviders: ["cpu"] });
    const meta = metadata(CLASSIFIER);
    labels = JSON.parse(meta.labels) as string[];
    padding = Number(meta.crop_padding);
    size = (JSON.parse(meta.imgsz) as number[])[0];
  });
  afterAll(async () => {
    await detector?.close();
    await session?.release();
  });

  it("describe themselves: a 4-category detector and a 43-class crop classifier with its padding", () => {
    expect(detector.info.labels).toEqual(["prohibitory", "mandatory", "danger", "other"]);
    expect([detector.info.inputDtype, detector.info.inputLayout, detector.info.color]).toEqual(["uint8", "NHWC", "RGB"]);
    const meta = metadata(CLASSIFIER);
    expect(meta.kind).toBe("classifier");
    expect(labels).toHaveLength(43);
    expect([labels[0], labels[14], labels[42]]).toEqual(["speed limit (20km/h)", "stop", "end of no passing by vehicles over 3.5 metric tons"]);
    expect(padding).toBeGreaterThan(0);
    expect(session.inputNames).toHaveLength(1);
  });

  it("find and name every sign of 24 px and more, call nothing on tail-lights or red lights a sign, nothing else confidently", async () => {
    const problems: string[] = [];
    const crops = new Uint8Array(64 * size * size * 3);
    for (const frame of FRAMES) {
      const rgb = await rgbOf(path.join(GTSDB, "frames", `${frame}.jpg`));
      expect([rgb.width, rgb.height]).toEqual([816, 480]);
      const { detections } = await detector.detect(rgb, { min_score: DETECT_MIN_SCORE, nms_iou: NMS_IOU, nms_class_agnostic: true });
      const boxes = detections.slice(0, 64);
      boxes.forEach((d, i) => writeCrop(rgb.data, rgb.width, rgb.height, d.box, padding, size, crops, i));
      const probs = boxes.length ? await classify(session, crops, boxes.length, size) : new Float32Array(0);
      const signs: Detection[] = boxes.map((d, i) => {
        const p = probs.subarray(i * 43, (i + 1) * 43);
        const classId = p.indexOf(Math.max(...p));
        return { label: labels[classId], classId, score: d.score * p[classId], box: d.box };
      });
      const kept = signs.filter((s) => s.score >= SIGN_MIN_SCORE);
      const seen = JSON.stringify(kept.map((s) => [s.label, +s.score.toFixed(2), s.box.map(Math.round)]));
      const gts = truth.get(frame) ?? [];
      for (const t of gts) {
        if (Math.max(t.box[2] - t.box[0], t.box[3] - t.box[1]) < MIN_REQUIRED_PX) continue;
        if (!kept.some((s) => s.classId === t.classId && iou(s.box, t.box) >= 0.5))
          problems.push(`${frame}: missed ${labels[t.classId]} ${JSON.stringify(t.box)}; saw ${seen}`);
      }
      for (const s of kept) {
        if (gts.some((t) => iou(s.box, t.box) >= 0.3)) continue;
        const cx = (s.box[0] + s.box[2]) / 2;
        const cy = (s.box[1] + s.box[3]) / 2;
        const onRed = (RED_LIGHTS[frame] ?? []).some((r) => cx >= r[0] && cx <= r[2] && cy >= r[1] && cy <= r[3]);
        if (onRed || s.score >= CONFIDENT) {
          problems.push(
            `${frame}: ${onRed ? "sign on a red light" : "confident stray"} ${s.label} ${s.score.toFixed(2)} at ${JSON.stringify(s.box.map(Math.round))}`,
          );
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("the int8 sign detector beside its float source", () => {
  const FLOAT = path.join(repoRoot, "models/traffic-signs-fp32.onnx");

  it("says it is quantized and on which frames; finds what the float file finds, with the same category, on held-out frames", async () => {
    expect(metadata(DETECTOR).quantization).toMatch(/^int8 QDQ, static: .* calibrated on \d+ GTSDB training frames 00000-0039\d$/);
    expect(metadata(FLOAT).quantization).toBeUndefined();
    expect(metadata(DETECTOR).labels).toBe(metadata(FLOAT).labels);
    const [int8, float] = await Promise.all(
      [DETECTOR, FLOAT].map((file) => Detector.open({ name: path.basename(file), model: { path: file }, providers: ["cpu"], threads: 1 })),
    );
    try {
      const problems: string[] = [];
      let compared = 0;
      for (const frame of FRAMES) {
        const rgb = await rgbOf(path.join(GTSDB, "frames", `${frame}.jpg`));
        const filter = { min_score: DETECT_MIN_SCORE, nms_iou: NMS_IOU, nms_class_agnostic: true };
        const [q, f] = await Promise.all([int8.detect(rgb, filter), float.detect(rgb, filter)]);
        for (const d of f.detections.filter((x) => x.score >= 0.3)) {
          compared++;
          const twin = q.detections.find((x) => x.label === d.label && iou(x.box, d.box) >= 0.8);
          // scores move most in mid-range: 0.42 -> 0.58 for a small "other" sign was the largest change measured here
          if (!twin || Math.abs(twin.score - d.score) > 0.25) {
            problems.push(
              `${frame}: float ${d.label} ${d.score.toFixed(2)} ${JSON.stringify(d.box.map(Math.round))}, int8 ${twin ? twin.score.toFixed(2) : "none"}`,
            );
          }
        }
      }
      expect(compared, "float detections to compare").toBeGreaterThanOrEqual(8);
      expect(problems).toEqual([]);
    } finally {
      await Promise.all([int8.close(), float.close()]);
    }
  });
});

describe("the shipped sign classifier on GTSRB's official test crops", () => {
  it("names at least 96 % of a fixed third of the 12,630 crops (never trained on)", async () => {
    const session = await ort.InferenceSession.create(CLASSIFIER, { intraOpNumThreads: 1, executionProviders: ["cpu"] });
    try {
      const labelsOut = execFileSync("/usr/bin/python3", [
        "-c",
        `import numpy,sys; sys.stdout.buffer.write(numpy.load(sys.argv[1])["y_test"].astype("uint8").tobytes())`,
        path.join(GTSRB, "labels.npz"),
      ]);
      const y = new Uint8Array(labelsOut);
      expect(y.length).toBe(12630);
      // test.png: 30 crops of 32x32 per row, crop i at row i // 30, column i % 30 (data/gtsrb/README.md)
      const { data, info } = await sharp(path.join(GTSRB, "test.png")).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      expect(info.width).toBe(960);
      expect(JSON.parse(metadata(CLASSIFIER).imgsz), "GTSRB crops are fed as stored: 32x32").toEqual([32, 32]);
      const picked = Array.from({ length: Math.ceil(y.length / 3) }, (_, k) => k * 3);
      const batch = 512;
      const crops = new Uint8Array(batch * 32 * 32 * 3);
      let right = 0;
      for (let k = 0; k < picked.length; k += batch) {
        const n = Math.min(batch, picked.length - k);
        for (let j = 0; j < n; j++) {
          const i = picked[k + j];
          const r = Math.floor(i / 30) * 32;
          const c = (i % 30) * 32;
          for (let v = 0; v < 32; v++) {
            const src = ((r + v) * info.width + c) * 3;
            crops.set(data.subarray(src, src + 96), (j * 32 + v) * 96);
          }
        }
        const probs = await classify(session, crops, n, 32);
        for (let j = 0; j < n; j++) {
          const p = probs.subarray(j * 43, (j + 1) * 43);
          if (p.indexOf(Math.max(...p)) === y[picked[k + j]]) right++;
        }
      }
      const accuracy = right / picked.length;
      expect(accuracy, `accuracy ${accuracy.toFixed(4)} on ${picked.length} crops`).toBeGreaterThanOrEqual(0.96);
    } finally {
      await session.release();
    }
  });
});
