// Time detector models in onnxruntime-node on one thread, as the agent runs them.
// usage: node scripts/bench-model.mjs [model.onnx ...] [--runs 100] [--threads 1] [--crops 2]
// With no model given it times models/traffic-signs.onnx (int8) and models/sign-classifier.onnx (a batch of --crops
// crops: a dynamic batch axis takes that size) beside the float detector, YOLOX-nano@416 and FastestDet@352 from ../shared/models
// (when present), so ratios come from one run.
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(path.join(repoRoot, "package.json"));
const ort = require("onnxruntime-node");

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const runs = opt("--runs", 100);
const threads = opt("--threads", 1);
// GTSDB frames hold 1.7 signs on average (801 in 466 frames): 2 crops a frame is the typical classifier batch
const crops = opt("--crops", 2);
const models = args.length
  ? args
  : [
      "models/traffic-signs.onnx",
      "models/sign-classifier.onnx",
      "models/traffic-signs-fp32.onnx",
      "../shared/models/yolox_nano.onnx",
      "../shared/models/fastestdet.onnx",
    ]
      .map((p) => path.resolve(repoRoot, p))
      .filter(existsSync);

function inputFor(session) {
  // onnxruntime-node 1.30 exposes input metadata; fall back to the uint8 NHWC contract.
  const meta = session.inputMetadata?.[0];
  const dims = meta?.shape?.map((d) => (typeof d === "number" ? d : crops)) ?? [1, 288, 512, 3];
  const size = dims.reduce((a, b) => a * b, 1);
  const type = meta?.type ?? "uint8";
  if (type === "uint8") {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24; // deterministic pseudo-image
    return { tensor: new ort.Tensor("uint8", data, dims), label: `uint8 [${dims}]` };
  }
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 2654435761) >>> 24; // YOLOX-nano takes 0-255 floats
  return { tensor: new ort.Tensor("float32", data, dims), label: `float32 [${dims}]` };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// Runs are interleaved (A, B, A, B, ...) so both models see the same background load on a
// shared machine; the ratio is then fair even when the absolute times drift.
const sessions = [];
for (const file of models) {
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const { tensor, label } = inputFor(session);
  const feeds = { [session.inputNames[0]]: tensor };
  for (let i = 0; i < 10; i++) await session.run(feeds); // warm-up: allocations, kernel caches
  sessions.push({ file, session, feeds, label, times: [] });
}
for (let i = 0; i < runs; i++) {
  for (const s of sessions) {
    const t0 = process.hrtime.bigint();
    await s.session.run(s.feeds);
    s.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const results = sessions.map((s) => ({
  model: path.basename(s.file),
  input: s.label,
  median: median(s.times),
  p90: pct(s.times, 0.9),
  min: Math.min(...s.times),
}));
for (const r of results) {
  console.log(
    `${r.model.padEnd(24)} ${r.input.padEnd(26)} median ${r.median.toFixed(2)} ms  p90 ${r.p90.toFixed(2)} ms  min ${r.min.toFixed(2)} ms  (${runs} runs, ${threads} thread)`,
  );
}
const byName = Object.fromEntries(results.map((r) => [r.model, r]));
if (byName["traffic-signs.onnx"] && byName["sign-classifier.onnx"]) {
  const both = byName["traffic-signs.onnx"].median + byName["sign-classifier.onnx"].median;
  console.log(`traffic-signs.onnx + sign-classifier.onnx (${crops} crops): ${both.toFixed(2)} ms per frame (sum of medians, inference only)`);
  if (byName["yolox_nano.onnx"]) console.log(`detect + classify / yolox_nano.onnx median time ratio: ${(both / byName["yolox_nano.onnx"].median).toFixed(2)}`);
}
if (results.length > 1) {
  for (const r of results.slice(1)) {
    console.log(`${r.model} / ${results[0].model} median time ratio: ${(r.median / results[0].median).toFixed(2)}`);
  }
}
