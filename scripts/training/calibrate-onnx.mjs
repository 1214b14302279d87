// Calibration for scripts/training/quantize.py: runs a probe model (the detector with its activations as extra
// outputs) over real frames fed as the agent feeds them (the agent's ffmpeg grab, then its letterbox into the
// model input) and writes each activation's min and max per frame.
//
// usage: node scripts/training/calibrate-onnx.mjs --model PROBE.onnx --tensors PROBE.json --gt DIR
//          [--frames 0-399] [--every 4] --out RANGES.json
// DIR/frames/NNNNN.jpg are read; only numbers within --frames, every --every-th. Run `npx tsc` first (dist/).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (p) => path.join(repoRoot, "dist/agent", p);
if (!existsSync(dist("camera/ffmpeg.js"))) {
  console.error("calibrate-onnx: dist/ is not built; run `npx tsc -p tsconfig.json` first");
  process.exit(2);
}
const ort = createRequire(path.join(repoRoot, "package.json"))("onnxruntime-node");
const { grabFrame } = await import(dist("camera/ffmpeg.js"));
const { letterbox, writeModelInput } = await import(dist("detect/model-input.js"));

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tensors: { type: "string" },
    gt: { type: "string" },
    frames: { type: "string", default: "0-399" },
    every: { type: "string", default: "4" },
    out: { type: "string" },
  },
});
for (const k of ["model", "tensors", "gt", "out"]) {
  if (!values[k]) {
    console.error(`calibrate-onnx: --${k} is required`);
    process.exit(2);
  }
}
const [first, last] = values.frames.split("-").map(Number);
const every = Number(values.every);
if (!(Number.isInteger(first) && Number.isInteger(last) && first <= last && Number.isInteger(every) && every >= 1)) {
  console.error(`calibrate-onnx: --frames A-B (whole numbers, A <= B) and --every N (N >= 1), got --frames ${values.frames} --every ${values.every}`);
  process.exit(2);
}
const names = JSON.parse(readFileSync(values.tensors, "utf8")).tensors;
const folder = path.join(values.gt, "frames");
const files = readdirSync(folder)
  .filter((f) => /^\d+\.jpg$/.test(f))
  .map((f) => ({ f, n: Number(f.slice(0, -4)) }))
  .filter(({ n }) => n >= first && n <= last && (n - first) % every === 0)
  .map(({ f }) => path.join(folder, f));
if (files.length === 0) {
  console.error(`calibrate-onnx: no frames NNNNN.jpg numbered ${values.frames} (every ${every}) in ${folder}`);
  process.exit(2);
}

const session = await ort.InferenceSession.create(values.model, { intraOpNumThreads: 2, interOpNumThreads: 1 });
const meta = session.inputMetadata[0];
const [, height, width] = meta.shape;
const spec = { width, height, layout: "NHWC", dtype: "uint8", scale: 1, color: "RGB", padValue: 114 };
const input = new Uint8Array(width * height * 3);
const ranges = Object.fromEntries(names.map((n) => [n, []]));
for (const file of files) {
  // GTSDB frames are stored at 816x480, the size a camera would deliver them
  const rgb = await grabFrame({ source: file, width: 816, height: 480, rtspTransport: "tcp", timeoutSeconds: 20 });
  writeModelInput(new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length), 816, 480, spec, letterbox(816, 480, width, height), input);
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor("uint8", input, [1, height, width, 3]) }, names);
  for (const n of names) {
    const d = out[n].data;
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < d.length; i++) {
      const v = d[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    ranges[n].push([lo, hi]);
  }
  for (const t of Object.values(out)) t.dispose?.();
}
writeFileSync(values.out, JSON.stringify({ frames: files.map((f) => path.basename(f)), ranges }));
console.log(`${values.out}: ${names.length} activations over ${files.length} frames`);
