/**
 * A planar YUV 4:2:0 picture, as ffmpeg's yuv420p lays it out: Y at full size, U and V at half width and half
 * height. Each plane is a view; rows are `yStride` (Y) and `cStride` (U, V) bytes apart.
 */
export interface Yuv420 {
  y: Uint8Array;
  u: Uint8Array;
  v: Uint8Array;
  width: number;
  height: number;
  yStride: number;
  cStride: number;
}

/**
 * A picture's brightness as a byte per pixel: `data[offset + y * stride + x * step]`. The Y plane of a YUV
 * frame (step 1); for packed RGB24 (step 3, offset 1) the green channel, its largest share of luma.
 */
export interface Luma {
  data: Uint8Array;
  width: number;
  height: number;
  stride: number;
  step: number;
  offset: number;
}

/** The brightness view of a YUV 4:2:0 picture: its Y plane. */
export function yuvLuma(yuv: Yuv420): Luma {
  return { data: yuv.y, width: yuv.width, height: yuv.height, stride: yuv.yStride, step: 1, offset: 0 };
}

/** The brightness view of a packed RGB24 picture. */
export function rgbLuma(rgb: Uint8Array, width: number, height: number): Luma {
  return { data: rgb, width, height, stride: width * 3, step: 3, offset: 1 };
}

// BT.601 at limited range, swscale's default for a stream that names no colour matrix, in 10-bit fixed point:
// a pixel is a few table lookups and adds; one more table clamps to 0–255 (its index is offset by CLAMP_AT).
const Y = new Int32Array(256);
const RV = new Int32Array(256);
const GU = new Int32Array(256);
const GV = new Int32Array(256);
const BU = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  Y[i] = Math.round(1.164383 * (i - 16) * 1024) + 512; // + 512: rounds at the shift
  RV[i] = Math.round(1.596027 * (i - 128) * 1024);
  GU[i] = Math.round(-0.391762 * (i - 128) * 1024);
  GV[i] = Math.round(-0.812968 * (i - 128) * 1024);
  BU[i] = Math.round(2.017232 * (i - 128) * 1024);
}
/** sums span −277…+480 after the shift */
const CLAMP_AT = 384;
const CLAMP = new Uint8Array(1024);
for (let i = 0; i < 1024; i++) CLAMP[i] = Math.min(255, Math.max(0, i - CLAMP_AT));
/** the clamp table times a model's scale, made once per scale */
const scaledClamps = new Map<number, Float32Array>();
function clampTimes(scale: number): Float32Array {
  let t = scaledClamps.get(scale);
  if (!t) {
    t = Float32Array.from(CLAMP, (c) => c * scale);
    scaledClamps.set(scale, t);
  }
  return t;
}

/** Converts a YUV 4:2:0 picture to packed RGB24 rows `outStride` bytes apart (each chroma sample covers 2×2 pixels). */
export function yuv420ToRgb(src: Yuv420, out: Uint8Array, outStride = src.width * 3): void {
  convert(src, out, outStride, 3, 0, 1, 2, CLAMP);
}

/**
 * Converts a YUV 4:2:0 picture straight into a model's input, top left: planar (NCHW, planes of `planeSize`)
 * or packed (NHWC) rows of `outWidth` pixels, RGB or BGR, each value clamped to 0–255 and multiplied by
 * `scale`. One pass, no RGB picture in between.
 */
export function yuv420ToInput(
  src: Yuv420,
  out: Float32Array | Uint8Array,
  outWidth: number,
  planar: boolean,
  planeSize: number,
  bgr: boolean,
  scale: number,
): void {
  const along = planar ? planeSize : 1;
  const step = planar ? 1 : 3;
  const clamp = out instanceof Uint8Array ? CLAMP : clampTimes(scale);
  convert(src, out, outWidth * step, step, (bgr ? 2 : 0) * along, along, (bgr ? 0 : 2) * along, clamp);
}

/** The one conversion loop: R, G and B of a pixel go to o + ro, o + go, o + bo; pixels are `step` apart. */
function convert(
  src: Yuv420,
  out: Float32Array | Uint8Array,
  outStride: number,
  step: number,
  ro: number,
  go: number,
  bo: number,
  clamp: Float32Array | Uint8Array,
): void {
  const { y, u, v, width: w, height: h, yStride, cStride } = src;
  for (let row = 0; row < h; row++) {
    let yi = row * yStride;
    let ci = (row >> 1) * cStride;
    let o = row * outStride;
    for (let x = 0; x < w; x += 2, ci++) {
      const uu = u[ci]!;
      const vv = v[ci]!;
      const rv = RV[vv]!;
      const g = GU[uu]! + GV[vv]!;
      const bu = BU[uu]!;
      let l = Y[y[yi++]!]!;
      out[o + ro] = clamp[((l + rv) >> 10) + CLAMP_AT]!;
      out[o + go] = clamp[((l + g) >> 10) + CLAMP_AT]!;
      out[o + bo] = clamp[((l + bu) >> 10) + CLAMP_AT]!;
      o += step;
      if (x + 1 === w) break;
      l = Y[y[yi++]!]!;
      out[o + ro] = clamp[((l + rv) >> 10) + CLAMP_AT]!;
      out[o + go] = clamp[((l + g) >> 10) + CLAMP_AT]!;
      out[o + bo] = clamp[((l + bu) >> 10) + CLAMP_AT]!;
      o += step;
    }
  }
}

/** The bytes of a contiguous yuv420p picture (Y, then U, then V): even sizes, as ffmpeg writes them. */
export function yuv420Bytes(width: number, height: number): number {
  return width * height + 2 * (width / 2) * (height / 2);
}

/** The planes of a contiguous yuv420p picture at `offset` in `buffer`. */
export function yuv420At(buffer: ArrayBufferLike, offset: number, width: number, height: number): Yuv420 {
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  return {
    y: new Uint8Array(buffer, offset, ySize),
    u: new Uint8Array(buffer, offset + ySize, cSize),
    v: new Uint8Array(buffer, offset + ySize + cSize, cSize),
    width,
    height,
    yStride: width,
    cStride: width / 2,
  };
}

/** Copies a YUV 4:2:0 picture into `out` as one contiguous yuv420p picture (Y, U, V without row padding). */
export function packYuv420(src: Yuv420, out: Uint8Array): void {
  const { width: w, height: h } = src;
  const cw = w / 2;
  const ch = h / 2;
  const copy = (plane: Uint8Array, stride: number, rowBytes: number, rows: number, at: number) => {
    if (stride === rowBytes) out.set(plane.subarray(0, rowBytes * rows), at);
    else for (let r = 0; r < rows; r++) out.set(plane.subarray(r * stride, r * stride + rowBytes), at + r * rowBytes);
  };
  copy(src.y, src.yStride, w, h, 0);
  copy(src.u, src.cStride, cw, ch, w * h);
  copy(src.v, src.cStride, cw, ch, w * h + cw * ch);
}
