import { describe, expect, it } from "vitest";
import { Candidates, mapToFrame } from "../../agent/formats/candidates.js";
import { decodeFastestdet } from "../../agent/formats/fastestdet.js";
import { detectorFormat, detectorFormats, formatFromShape } from "../../agent/formats/registry.js";
import { modelFormatSchema } from "../../agent/config/schema.js";
import { decodeYolov8 } from "../../agent/formats/yolov8.js";
import { decodeYolox, yoloxAnchorCount } from "../../agent/formats/yolox.js";
import { letterbox } from "../../agent/detect/model-input.js";

const box = (c: Candidates, i: number) => Array.from(c.boxes.subarray(i * 4, i * 4 + 4));

describe("decodeYolox", () => {
  it("places raw grid offsets on the stride 8/16/32 grids and scores obj × class", () => {
    const w = 64;
    const h = 32;
    const n = yoloxAnchorCount(w, h); // 8×4 + 4×2 + 2×1 = 42
    expect(n).toBe(42);
    const classes = 2;
    const out = new Float32Array(n * (5 + classes));
    const set = (a: number, v: number[]) => out.set(v, a * (5 + classes));
    // anchor 9: stride 8 grid, row 1, col 1; box centre (1.5, 1.5) cells, size e^0 = 1 cell
    set(9, [0.5, 0.5, 0, 0, 0.9, 0.1, 0.8]);
    // anchor 32 + 8 + 1 = 41: stride 32 grid, col 1; size e^ln2 = 2 cells
    set(41, [0, 0.5, Math.log(2), Math.log(2), 0.5, 0.6, 0.2]);
    // below threshold: 0.5 × 0.5
    set(3, [0, 0, 0, 0, 0.5, 0.5, 0]);
    const c = new Candidates(n);
    decodeYolox(out, [1, n, 5 + classes], w, h, new Float32Array([0.3, 0.3]), c);
    expect(c.count).toBe(2);
    expect(box(c, 0)).toEqual([8, 8, 16, 16]);
    expect(c.classIds[0]).toBe(1);
    expect(c.scores[0]).toBeCloseTo(0.72);
    expect(box(c, 1).map((v) => Math.round(v) + 0)).toEqual([0, -16, 64, 48]);
    expect(c.classIds[1]).toBe(0);
    expect(c.scores[1]).toBeCloseTo(0.3);
  });

  it("refuses an output whose anchor count does not fit the input size", () => {
    expect(() => decodeYolox(new Float32Array(85), [1, 1, 85], 416, 416, new Float32Array(80), new Candidates(1))).toThrow(/anchors/);
  });
});

describe("decodeYolov8", () => {
  it("reads channel-major cx, cy, w, h and the best class", () => {
    const n = 3;
    const classes = 2;
    // rows: cx, cy, w, h, class0, class1 — each row n long
    const out = Float32Array.from(
      [
        [100, 50, 10],
        [100, 60, 10],
        [20, 40, 4],
        [40, 20, 4],
        [0.9, 0.1, 0.2],
        [0.1, 0.7, 0.1],
      ].flat(),
    );
    const c = new Candidates(n);
    decodeYolov8(out, [1, 4 + classes, n], new Float32Array([0.5, 0.5]), c);
    expect(c.count).toBe(2);
    expect(box(c, 0)).toEqual([90, 80, 110, 120]);
    expect(c.classIds[0]).toBe(0);
    expect(box(c, 1)).toEqual([30, 50, 70, 70]);
    expect(c.classIds[1]).toBe(1);
    expect(c.scores[1]).toBeCloseTo(0.7);
  });
});

describe("decodeFastestdet", () => {
  it("decodes tanh cell offsets and sigmoid sizes over the grid, score obj^0.6·cls^0.4", () => {
    const gh = 2;
    const gw = 2;
    const classes = 2;
    const plane = gh * gw;
    const out = new Float32Array((5 + classes) * plane);
    const cell = 1 * gw + 1; // row 1, col 1
    out[cell] = 0.8; // obj
    out[plane + cell] = Math.atanh(0.5); // x offset 0.5 cell
    out[2 * plane + cell] = 0; // y offset 0
    out[3 * plane + cell] = 0; // w = sigmoid(0) = 0.5 of the input
    out[4 * plane + cell] = Math.log(0.25 / 0.75); // h = 0.25 of the input
    out[5 * plane + cell] = 0.1;
    out[6 * plane + cell] = 0.9;
    const c = new Candidates(plane);
    decodeFastestdet(out, [1, 5 + classes, gh, gw], 100, 200, new Float32Array([0.5, 0.5]), c);
    expect(c.count).toBe(1);
    // centre (1.5/2 · 100, 1/2 · 200) = (75, 100); size 50 × 50
    expect(box(c, 0).map((v) => Math.round(v * 1000) / 1000)).toEqual([50, 75, 100, 125]);
    expect(c.classIds[0]).toBe(1);
    expect(c.scores[0]).toBeCloseTo(0.8 ** 0.6 * 0.9 ** 0.4);
  });
});

describe("mapToFrame", () => {
  it("undoes the letterbox scale and clips to the frame", () => {
    const c = new Candidates(1);
    c.pushCenter(208, 100, 416, 100, 1, 0);
    mapToFrame(c, letterbox(832, 416, 416, 416), 832, 416);
    expect(box(c, 0)).toEqual([0, 100, 832, 300]);
  });
});

describe("formatFromShape", () => {
  it("tells the three output layouts apart", () => {
    expect(formatFromShape([1, 3549, 85], 416, 416)?.name).toBe("yolox");
    expect(formatFromShape([1, 8400, 85], 640, 640)?.name).toBe("yolox");
    expect(formatFromShape([1, 84, 8400], 640, 640)?.name).toBe("yolov8");
    expect(formatFromShape([1, 85, 22, 22], 352, 352)?.name).toBe("fastestdet");
    expect(formatFromShape([1, 100, 6], 640, 640)).toBeUndefined();
  });
});

describe("the format registry", () => {
  it("is what models.<name>.format accepts; each format counts the classes of its own output shape", () => {
    expect(modelFormatSchema.options).toEqual(detectorFormats.map((f) => f.name));
    expect(modelFormatSchema.safeParse("yolov5").success).toBe(false);
    const shapes: Record<string, number[]> = { yolox: [1, 3549, 85], yolov8: [1, 84, 8400], fastestdet: [1, 85, 22, 22] };
    for (const f of detectorFormats) expect([f.name, f.classCount(shapes[f.name]!)]).toEqual([f.name, 80]);
    expect(detectorFormat("nope")).toBeUndefined();
  });
});
