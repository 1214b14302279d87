// Run an exported detector over a cached scene set in onnxruntime-node (the agent's runtime),
// so the evaluation scores the shipped .onnx file, not the PyTorch model it came from.
// usage: node predict-onnx.mjs model.onnx images.u8 N H W out.f32 [minScore]
// out.f32 holds records of 7 float32: image, class, score, cx, cy, w, h (input pixels).
import { createRequire } from "node:module";
import { openSync, readSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(path.join(repoRoot, "package.json"));
const ort = require("onnxruntime-node");

const [modelPath, imagesPath, nStr, hStr, wStr, outPath, minStr] = process.argv.slice(2);
const [n, h, w] = [Number(nStr), Number(hStr), Number(wStr)];
const minScore = Number(minStr ?? "0.01");

const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 2 });
const fd = openSync(imagesPath, "r");
const frame = Buffer.alloc(h * w * 3);
const records = [];
for (let i = 0; i < n; i++) {
  readSync(fd, frame, 0, frame.length, i * frame.length);
  const input = new ort.Tensor("uint8", new Uint8Array(frame.buffer, frame.byteOffset, frame.length), [1, h, w, 3]);
  const out = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
  const [, rows, cells] = out.dims;
  const d = out.data;
  for (let a = 0; a < cells; a++) {
    for (let c = 0; c < rows - 4; c++) {
      const s = d[(4 + c) * cells + a];
      if (s >= minScore) records.push(i, c, s, d[a], d[cells + a], d[2 * cells + a], d[3 * cells + a]);
    }
  }
}
writeFileSync(outPath, Buffer.from(new Float32Array(records).buffer));
console.log(`${n} images, ${records.length / 7} candidates >= ${minScore}`);
