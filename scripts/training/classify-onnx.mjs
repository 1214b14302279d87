// Run the sign classifier over a file of crops in onnxruntime-node (the agent's runtime), in batches.
// usage: node classify-onnx.mjs classifier.onnx crops.u8 N S out.f32   (crops: N x S x S x 3 uint8 RGB)
// out.f32: N x C float32 probabilities.
import { createRequire } from "node:module";
import { openSync, readSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(path.join(repoRoot, "package.json"));
const ort = require("onnxruntime-node");

const [modelPath, cropsPath, nStr, sStr, outPath] = process.argv.slice(2);
const [n, s] = [Number(nStr), Number(sStr)];
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
const fd = openSync(cropsPath, "r");
const per = s * s * 3;
const parts = [];
for (let i = 0; i < n; i += 256) {
  const k = Math.min(256, n - i);
  const buf = Buffer.alloc(k * per);
  readSync(fd, buf, 0, buf.length, i * per);
  const input = new ort.Tensor("uint8", new Uint8Array(buf.buffer, buf.byteOffset, buf.length), [k, s, s, 3]);
  const out = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
  parts.push(Float32Array.from(out.data));
}
const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
let o = 0;
for (const p of parts) {
  all.set(p, o);
  o += p.length;
}
writeFileSync(outPath, Buffer.from(all.buffer));
console.log(`${n} crops classified`);
