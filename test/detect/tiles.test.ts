import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tilesSchema } from "../../agent/config/tiles-schema.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { Detector } from "../../agent/detect/detector.js";
import { iou } from "../../agent/detect/non-max-suppression.js";
import { TiledDetection } from "../../agent/detect/tiled-detection.js";
import { mergeTileDetections, tileRects } from "../../agent/detect/tiles.js";
import { sharedMedia, sharedModel, sharedRgb } from "./fixtures.js";

const tiles = (t: Record<string, unknown>) => tilesSchema.parse(t);

describe("tileRects", () => {
  it("covers the frame with overlapping tiles whose outer edges are the frame's", () => {
    // 2 columns over 816 px with 20 % overlap: tile width 816 / 1.8 = 453.3, step 362.7
    expect(tileRects(816, 480, tiles({ grid: [2, 1] }))).toEqual([
      [0, 0, 454, 480],
      [362, 0, 816, 480],
    ]);
    expect(tileRects(100, 100, tiles({ grid: [2, 2], overlap: 0 }))).toEqual([
      [0, 0, 50, 50],
      [50, 0, 100, 50],
      [0, 50, 50, 100],
      [50, 50, 100, 100],
    ]);
  });

  it("puts the grid over a region of interest, clipped to the frame, and adds the whole frame when asked", () => {
    expect(tileRects(816, 480, tiles({ region: [400, 0, 900, 240], full_frame: true }))).toEqual([
      [400, 0, 816, 240],
      [0, 0, 816, 480],
    ]);
    // the whole frame once, not twice
    expect(tileRects(816, 480, tiles({ full_frame: true }))).toEqual([[0, 0, 816, 480]]);
  });

  it("rejects an empty region in the config", () => {
    expect(tilesSchema.safeParse({ region: [10, 10, 5, 20] }).success).toBe(false);
  });
});

describe("mergeTileDetections", () => {
  const d = (label: string, score: number, box: Box): Detection => ({ label, classId: 0, score, box });

  it("keeps one box per object: duplicates from overlapping tiles and pieces cut by a border go", () => {
    const whole = d("stop", 0.9, [100, 100, 140, 140]);
    const twin = d("stop", 0.8, [101, 100, 141, 140]); // the same sign from the neighbouring tile
    const piece = d("stop", 0.7, [100, 100, 118, 140]); // its left half, cut by a tile border (IoU 0.45, IoS 1)
    const other = d("yield", 0.6, [300, 100, 340, 140]);
    expect(mergeTileDetections([piece, twin, whole, other], 0.5, 0.6, false)).toEqual([whole, other]);
    // another class over the same place survives unless NMS is class-agnostic
    const look = d("no entry", 0.5, [100, 100, 140, 140]);
    expect(mergeTileDetections([whole, look], 0.5, 0.6, false)).toEqual([whole, look]);
    expect(mergeTileDetections([whole, look], 0.5, 0.6, true)).toEqual([whole]);
  });
});

describe("TiledDetection with YOLOX-Nano on person.jpg", () => {
  let detector: Detector;
  let frame: Awaited<ReturnType<typeof sharedRgb>>;
  beforeAll(async () => {
    frame = await sharedRgb(sharedMedia("person.jpg"));
    detector = await Detector.open({
      name: "coco",
      model: { path: sharedModel("yolox_nano.onnx"), labels: sharedModel("coco.names") },
      providers: ["cpu"],
      threads: 1,
    });
  });
  afterAll(() => detector?.close());

  it("finds the person through 2×2 tiles, in frame pixels, once, at the cost of five runs", async () => {
    const filter = { min_score: 0.4, nms_iou: 0.45, nms_class_agnostic: false };
    const whole = await detector.detect(frame, filter);
    const ref = whole.detections.find((x) => x.label === "person")!;
    expect(ref).toBeDefined();
    const tiled = new TiledDetection();
    const out = await tiled.detect((f, x) => detector.detect(f, x), frame, { ...filter, tiles: tiles({ grid: [2, 2], overlap: 0.5, full_frame: true }) });
    expect(out.tiles).toBe(5);
    const people = out.detections.filter((x) => x.label === "person");
    expect(people.length, JSON.stringify(out.detections)).toBe(1);
    expect(iou([...people[0].box, ...ref.box], 0, 4)).toBeGreaterThan(0.7);
    // a region left of the person (x < 150) holds no person at all
    const left = await tiled.detect((f, x) => detector.detect(f, x), frame, { ...filter, tiles: tiles({ region: [0, 0, 150, frame.height] }) });
    expect(left.detections.filter((x) => x.label === "person")).toEqual([]);
  });
});
