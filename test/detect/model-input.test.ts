import { describe, expect, it } from "vitest";
import {
  allocateModelInput,
  fillPadding,
  isIdentityPlacement,
  letterbox,
  stretch,
  writeModelInput,
  writeScaledInput,
  type InputSpec,
} from "../../agent/detect/model-input.js";

const spec = (over: Partial<InputSpec>): InputSpec => ({
  width: 4,
  height: 4,
  layout: "NCHW",
  dtype: "float32",
  color: "RGB",
  resize: "letterbox",
  padValue: 114,
  scale: 1,
  ...over,
});

/** A w×h RGB frame of one colour. */
function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) data.set(rgb, i * 3);
  return data;
}

describe("letterbox", () => {
  it("keeps the aspect ratio and leaves the padding at the bottom/right", () => {
    expect(letterbox(640, 480, 416, 416)).toEqual({ scaleX: 0.65, scaleY: 0.65, offsetX: 0, offsetY: 0, contentWidth: 416, contentHeight: 312 });
    const tall = letterbox(100, 200, 50, 50);
    expect(tall.contentWidth).toBe(25);
    expect(tall.contentHeight).toBe(50);
  });
});

describe("stretch", () => {
  it("fills the input with independent scales", () => {
    expect(stretch(704, 176, 352, 352)).toMatchObject({ scaleX: 0.5, scaleY: 2, contentWidth: 352, contentHeight: 352 });
  });
});

describe("writeModelInput", () => {
  it("writes NCHW floats in BGR order, raw 0–255, padding the letterbox border with 114", () => {
    const s = spec({ color: "BGR" });
    const out = allocateModelInput(s) as Float32Array;
    const frame = solid(8, 4, [200, 100, 50]);
    writeModelInput(frame, 8, 4, s, letterbox(8, 4, 4, 4), out);
    const plane = 16;
    // content: rows 0–1; padding: rows 2–3
    expect(out[0]).toBe(50);
    expect(out[plane]).toBe(100);
    expect(out[2 * plane]).toBe(200);
    expect(out[2 * 4]).toBe(114);
    expect(out[2 * plane + 15]).toBe(114);
  });

  it("scales by 1/255 and stretches over the whole input", () => {
    const s = spec({ resize: "stretch", scale: 1 / 255 });
    const out = allocateModelInput(s) as Float32Array;
    writeModelInput(solid(8, 2, [255, 0, 51]), 8, 2, s, stretch(8, 2, 4, 4), out);
    expect(out[15]).toBeCloseTo(1);
    expect(out[16 + 15]).toBe(0);
    expect(out[32 + 15]).toBeCloseTo(0.2);
  });

  it("writes uint8 NHWC for models that take raw bytes", () => {
    const s = spec({ layout: "NHWC", dtype: "uint8" });
    const out = allocateModelInput(s);
    expect(out).toBeInstanceOf(Uint8Array);
    writeModelInput(solid(4, 2, [10, 20, 30]), 4, 2, s, letterbox(4, 2, 4, 4), out);
    expect(Array.from(out.subarray(0, 6))).toEqual([10, 20, 30, 10, 20, 30]);
    expect(Array.from(out.subarray(45, 48))).toEqual([114, 114, 114]);
  });

  it("interpolates between neighbouring pixels when enlarging", () => {
    // 2×1 frame black | white enlarged to 4 wide: centres sample at -0.25, 0.25, 0.75, 1.25 source pixels
    const frame = new Uint8Array([0, 0, 0, 200, 200, 200]);
    const s = spec({ width: 4, height: 1, resize: "stretch" });
    const out = allocateModelInput(s) as Float32Array;
    writeModelInput(frame, 2, 1, s, stretch(2, 1, 4, 1), out);
    expect(Array.from(out.subarray(0, 4))).toEqual([0, 50, 150, 200]);
  });
});

describe("writeScaledInput (the convert-only path)", () => {
  // A picture ffmpeg already scaled, in rows wider than the picture (it sits under the camera frame).
  const picture = (w: number, h: number, stride: number) => {
    const data = new Uint8Array(stride * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w * 3; x++) data[y * stride + x] = (y * 31 + x * 7) % 256;
    return { data, width: w, height: h, stride };
  };

  it.each([
    spec({}),
    spec({ color: "BGR" }),
    spec({ layout: "NHWC", scale: 1 / 255 }),
    spec({ layout: "NHWC", dtype: "uint8" }),
    spec({ layout: "NCHW", dtype: "uint8", color: "BGR" }),
  ])("gives what the resize gives for a picture at the content size ($layout $dtype $color)", (s) => {
    const src = picture(4, 2, 4 * 3 + 6);
    const packed = new Uint8Array(4 * 2 * 3);
    for (let y = 0; y < 2; y++) packed.set(src.data.subarray(y * src.stride, y * src.stride + 12), y * 12);
    const viaResize = allocateModelInput(s);
    writeModelInput(packed, 4, 2, s, letterbox(4, 2, 4, 4), viaResize);
    const converted = allocateModelInput(s);
    fillPadding(s, converted);
    writeScaledInput(src, s, converted);
    expect(Array.from(converted)).toEqual(Array.from(viaResize));
  });

  it("is one copy for a uint8 RGB NHWC model when rows are contiguous", () => {
    const s = spec({ layout: "NHWC", dtype: "uint8" });
    const src = picture(4, 4, 12);
    const out = allocateModelInput(s);
    writeScaledInput(src, s, out);
    expect(Array.from(out)).toEqual(Array.from(src.data));
    expect(isIdentityPlacement(letterbox(4, 4, 4, 4), s)).toBe(true);
    expect(isIdentityPlacement(letterbox(8, 4, 4, 4), s)).toBe(false);
  });
});
