import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { outputFrameBytes, videoFilter } from "../../agent/camera/ffmpeg.js";
import type { Frame } from "../../agent/camera/frame.js";
import { FramePool } from "../../agent/camera/frame-pool.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { Detector, scaledSize } from "../../agent/detect/detector.js";
import { iou } from "../../agent/detect/non-max-suppression.js";
import { sharedMedia, sharedModel } from "./fixtures.js";

const run = promisify(execFile);

/** One frame of a photo through the camera stage's own ffmpeg filter, as the frame pool would hold it. */
async function decode(file: string, width: number, height: number, scaled?: { width: number; height: number }) {
  const o = { fps: 1, width, height, scaled };
  const { stdout } = await run(
    "ffmpeg",
    ["-hide_banner", "-loglevel", "error", "-loop", "1", "-i", file, "-frames:v", "1", "-vf", videoFilter(o), "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
    {
      encoding: "buffer",
      maxBuffer: 1 << 24,
    },
  );
  expect(stdout.length).toBe(outputFrameBytes(o));
  const slot = new Uint8Array(new SharedArrayBuffer(stdout.length));
  slot.set(stdout);
  const frameBytes = width * height * 3;
  return {
    data: slot.subarray(0, frameBytes),
    width,
    height,
    ...(scaled ? { scaled: { data: slot.subarray(frameBytes), width: scaled.width, height: scaled.height, stride: width * 3 } } : {}),
  };
}

/** The same through a YUV camera's frame pool: the frame and the picture stacked as yuv420p planes. */
async function decodeYuv(file: string, width: number, height: number, scaled: { width: number; height: number }): Promise<Frame> {
  const o = { fps: 1, width, height, scaled, pixelFormat: "yuv420p" as const };
  const { stdout } = await run(
    "ffmpeg",
    ["-hide_banner", "-loglevel", "error", "-loop", "1", "-i", file, "-frames:v", "1", "-vf", videoFilter(o), "-pix_fmt", "yuv420p", "-f", "rawvideo", "-"],
    { encoding: "buffer", maxBuffer: 1 << 24 },
  );
  expect(stdout.length).toBe(outputFrameBytes(o));
  let frame: Frame | undefined;
  const pool = new FramePool("cam", width, height, (f) => (frame = f), undefined, null, scaled, "yuv420p");
  for (let at = 0; at < stdout.length; ) {
    const into = pool.into();
    const n = Math.min(into.length, stdout.length - at);
    into.set(stdout.subarray(at, at + n));
    at += n;
    pool.filled(n);
  }
  expect(frame?.yuv).toBeDefined();
  return frame!;
}

/** A frame whose RGB must not be read: counts the reads of `data`. */
function watched(frame: Frame): { frame: Frame; reads: () => number } {
  let reads = 0;
  const w = { width: frame.width, height: frame.height, yuv: frame.yuv, scaled: frame.scaled, camera: frame.camera, seq: 0, time: 0, release() {} } as Frame;
  Object.defineProperty(w, "data", {
    get: () => {
      reads++;
      return frame.data;
    },
  });
  return { frame: w, reads: () => reads };
}

const FILTER = { min_score: { default: 0.5, truck: 0.25 }, nms_iou: 0.45 };

// The objects' extents in the photos (as in detector.test.ts), stretched to the 640×360 frame: where the boxes
// must come back, whichever picture the model saw.
const toFrame = (b: Box, w: number, h: number): Box => [(b[0] * 640) / w, (b[1] * 360) / h, (b[2] * 640) / w, (b[3] * 360) / h];
const EXPECTED: Record<string, [string, Box][]> = {
  "dog.jpg": [
    ["dog", toFrame([132, 218, 312, 538], 768, 576)],
    ["bicycle", toFrame([130, 140, 567, 420], 768, 576)],
  ],
  "person.jpg": [["person", toFrame([190, 100, 275, 370], 640, 424)]],
};

function expectFound(detections: Detection[], label: string, ref: Box): void {
  const best = Math.max(0, ...detections.filter((d) => d.label === label).map((d) => iou([...d.box, ...ref], 0, 4)));
  expect(best, `${label} near [${ref.map(Math.round).join(", ")}] in ${JSON.stringify(detections)}`).toBeGreaterThanOrEqual(0.5);
}

/**
 * Each confident detection of `a` has one of the same label in `b` overlapping it, and the other way round.
 * (ffmpeg's bilinear downscale filters more widely than the worker's 2×2 bilinear sample, which moves an unsure
 * box such as FastestDet's bicycle; the boxes' place in the frame is checked against the photo's objects.)
 */
function expectSameObjects(a: Detection[], b: Detection[]): void {
  expect(a.filter((d) => d.score >= 0.7).length).toBeGreaterThan(1);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const d of x.filter((e) => e.score >= 0.7)) {
      const best = Math.max(0, ...y.filter((e) => e.label === d.label).map((e) => iou([...d.box, ...e.box], 0, 4)));
      expect(best, `${d.label} ${JSON.stringify(d.box)} in ${JSON.stringify(y)}`).toBeGreaterThan(0.6);
    }
  }
}

// Frames at a detect size unlike the model's input (640×360 into 416×416 letterbox, 352×352 stretch): ffmpeg
// delivers the model's picture under the frame, the worker only converts it, and the boxes still come back in
// the frame's pixels — the same objects as the worker's own resize finds.
describe.each([
  { model: "yolox_nano.onnx", content: { width: 416, height: 234 } },
  { model: "fastestdet.onnx", content: { width: 352, height: 352 } },
])("$model with ffmpeg's scaled picture", ({ model, content }) => {
  let detector: Detector;
  beforeAll(async () => {
    detector = await Detector.open({
      name: model,
      model: { path: sharedModel(model), labels: sharedModel("coco.names") },
      providers: ["cpu"],
      threads: 1,
      workers: 2,
    });
  });
  afterAll(() => detector?.close());

  it("asks ffmpeg for the model's content size and finds what the JavaScript resize finds", async () => {
    expect(detector.workers).toBe(2);
    expect(scaledSize(detector.info, 640, 360)).toEqual(content);
    expect(scaledSize(detector.info, detector.info.inputWidth, detector.info.inputHeight)).toBeNull();
    for (const photo of ["dog.jpg", "person.jpg"]) {
      const [plain, scaled] = await Promise.all([decode(sharedMedia(photo), 640, 360), decode(sharedMedia(photo), 640, 360, content)]);
      const [viaResize, viaFfmpeg] = await Promise.all([detector.detect(plain, FILTER), detector.detect(scaled, FILTER)]);
      expectSameObjects(viaResize.detections, viaFfmpeg.detections);
      for (const [label, ref] of EXPECTED[photo]!) expectFound(viaFfmpeg.detections, label, ref);
      for (const d of viaFfmpeg.detections) expect(d.box[2] <= 640 && d.box[3] <= 360).toBe(true);
    }
  });

  it("takes a YUV camera's planes without making RGB, and finds the same objects; its RGB, made on demand, is ffmpeg's", async () => {
    for (const photo of ["dog.jpg", "person.jpg"]) {
      const [rgb, yuv] = await Promise.all([decode(sharedMedia(photo), 640, 360, content), decodeYuv(sharedMedia(photo), 640, 360, content)]);
      const w = watched(yuv);
      const [viaRgb, viaYuv] = await Promise.all([detector.detect(rgb, FILTER), detector.detect(w.frame, FILTER)]);
      expect(w.reads()).toBe(0);
      expectSameObjects(viaRgb.detections, viaYuv.detections);
      for (const [label, ref] of EXPECTED[photo]!) expectFound(viaYuv.detections, label, ref);
      // The RGB a snapshot or a crop reads, converted in JavaScript, against ffmpeg's own conversion.
      let sum = 0;
      let worst = 0;
      for (let i = 0; i < rgb.data.length; i++) {
        const d = Math.abs(yuv.data[i]! - rgb.data[i]!);
        sum += d;
        worst = Math.max(worst, d);
      }
      const mean = sum / rgb.data.length;
      console.log(`${photo}: JavaScript YUV→RGB against ffmpeg's rgb24: mean |Δ| ${mean.toFixed(2)}, worst ${worst}`);
      expect(mean).toBeLessThan(3);
    }
    // A picture made for another model: the worker converts the YUV frame and resizes it itself.
    const stale = await decodeYuv(sharedMedia("dog.jpg"), 640, 360, { width: content.width - 2, height: content.height - 2 });
    const plain = await decode(sharedMedia("dog.jpg"), 640, 360);
    const [viaStale, viaResize] = await Promise.all([detector.detect(watched(stale).frame, FILTER), detector.detect(plain, FILTER)]);
    expectSameObjects(viaResize.detections, viaStale.detections);
  });

  it("resizes the frame itself when the scaled picture was made for another model (a model swapped under a running camera)", async () => {
    const other = { width: content.width - 2, height: content.height - 2 };
    const [stale, plain] = await Promise.all([decode(sharedMedia("dog.jpg"), 640, 360, other), decode(sharedMedia("dog.jpg"), 640, 360)]);
    const [viaStale, viaResize] = await Promise.all([detector.detect(stale, FILTER), detector.detect(plain, FILTER)]);
    // The same frame bytes through the same resize: the very same boxes.
    expect(viaStale.detections).toEqual(viaResize.detections);
    // A picture of the right size that does not fit its buffer is still an error.
    const good = await decode(sharedMedia("dog.jpg"), 640, 360, content);
    const bad = { ...good, scaled: { ...good.scaled!, stride: 1 << 20 } };
    await expect(detector.detect(bad, FILTER)).rejects.toMatchObject({ code: "EVA_FRAME_INVALID" });
  });
});
