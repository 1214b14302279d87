// Score a sign detector (and classifier) on real frames with ground truth, through the built agent code:
// frames decoded and scaled by the agent's own ffmpeg call, the agent's Detector worker (pre-processing,
// ONNX Runtime, decoding, NMS) and the metric code in agent/evaluate. Run `npx tsc` first (dist/).
//
// usage: node scripts/evaluate-signs.mjs --gt DIR --detector FILE.onnx [--classifier FILE.onnx]
//          [--frames 500-599] [--detect-size 816x480] [--min-score 0.01] [--nms-iou 0.5] [--nms-class-aware]
//          [--fp-per-image 0.1] [--threads 1] [--json OUT.json]
//          small signs (detect.tiles): [--tiles COLSxROWS] [--overlap F] [--region x1,y1,x2,y2] [--full-frame]
//          classifier: [--crop-padding P (default: its metadata)] [--min-crop PX] [--score product|classifier|detector]
// DIR holds gt.csv (file,x1,y1,x2,y2,class_id) and the frames it names. Frames are fed as the agent gets them
// from a camera whose detect size is --detect-size (default: the frames' own size); boxes are scored in the
// stored frames' pixels.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = (p) => path.join(repoRoot, "dist/agent", p);
if (!existsSync(dist("detect/detector.js"))) {
  console.error("evaluate-signs: dist/ is not built; run `npx tsc -p tsconfig.json` first");
  process.exit(2);
}
const { Detector } = await import(dist("detect/detector.js"));
const { grabFrame } = await import(dist("camera/ffmpeg.js"));
const report = await import(dist("evaluate/sign-report.js"));
const { Classifier } = await import(dist("classify/classifier.js"));
const { classifyDetections, singleClassifier } = await import(dist("classify/classify-stage.js"));
const { classifyRuleSchema } = await import(dist("config/classify-schema.js"));
const { tilesSchema } = await import(dist("config/tiles-schema.js"));
const { TiledDetection } = await import(dist("detect/tiled-detection.js"));
const { tileRects } = await import(dist("detect/tiles.js"));

const USAGE =
  "usage: node scripts/evaluate-signs.mjs --gt DIR --detector FILE.onnx [--classifier FILE.onnx] [--frames A-B] " +
  "[--detect-size WxH] [--min-score S] [--nms-iou I] [--nms-class-aware] [--fp-per-image F] [--threads N] [--json OUT] " +
  "[--tiles CxR] [--overlap F] [--region x1,y1,x2,y2] [--full-frame] [--crop-padding P] [--min-crop PX] [--score product|classifier|detector]";

function fail(message) {
  console.error(`evaluate-signs: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      gt: { type: "string" },
      detector: { type: "string" },
      classifier: { type: "string" },
      frames: { type: "string" },
      "detect-size": { type: "string" },
      "min-score": { type: "string", default: "0.01" },
      "nms-iou": { type: "string", default: "0.5" },
      "nms-class-aware": { type: "boolean", default: false },
      "fp-per-image": { type: "string", default: "0.1" },
      tiles: { type: "string" },
      overlap: { type: "string" },
      region: { type: "string" },
      "full-frame": { type: "boolean", default: false },
      "crop-padding": { type: "string" },
      "min-crop": { type: "string", default: "1" },
      score: { type: "string", default: "product" },
      threads: { type: "string", default: "1" },
      json: { type: "string" },
      help: { type: "boolean" },
    },
  }));
} catch (err) {
  fail(err.message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.gt || !values.detector) fail("--gt and --detector are required");
const number = (name, ok) => {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || !ok(v)) fail(`--${name} ${values[name]}: out of range`);
  return v;
};
const minScore = number("min-score", (v) => v >= 0 && v <= 1);
const nmsIou = number("nms-iou", (v) => v > 0 && v <= 1);
const fpPerImage = number("fp-per-image", (v) => v >= 0);
const threads = number("threads", (v) => Number.isInteger(v) && v >= 1 && v <= 64);
let frameRange;
if (values.frames) {
  const m = /^(\d+)(?:-(\d+))?$/.exec(values.frames);
  if (!m) fail(`--frames ${values.frames}: A-B (frame numbers, inclusive) expected`);
  frameRange = [Number(m[1]), Number(m[2] ?? m[1])];
}
let detectSize;
if (values["detect-size"]) {
  const m = /^(\d+)x(\d+)$/.exec(values["detect-size"]);
  if (!m) fail(`--detect-size ${values["detect-size"]}: WxH expected`);
  detectSize = [Number(m[1]), Number(m[2])];
}

// Tiles and region are the camera's detect.tiles, checked by the agent's own schema.
let tiles;
if (values.tiles || values.region || values["full-frame"] || values.overlap) {
  const grid = values.tiles ? /^(\d+)x(\d+)$/.exec(values.tiles) : ["", "1", "1"];
  if (!grid) fail(`--tiles ${values.tiles}: COLSxROWS expected`);
  const parsed = tilesSchema.safeParse({
    grid: [Number(grid[1]), Number(grid[2])],
    ...(values.overlap !== undefined ? { overlap: Number(values.overlap) } : {}),
    ...(values.region ? { region: values.region.split(",").map(Number) } : {}),
    full_frame: values["full-frame"],
  });
  if (!parsed.success) fail(`tiles: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  tiles = parsed.data;
}

const gtFile = path.join(values.gt, "gt.csv");
if (!existsSync(gtFile)) fail(`${gtFile}: no such file`);
let rows;
try {
  rows = report.parseGroundTruthCsv(readFileSync(gtFile, "utf8"), gtFile);
} catch (err) {
  fail(err.message);
}
if (frameRange) {
  rows = rows.filter((r) => {
    const n = report.frameNumber(r.file);
    return n !== undefined && n >= frameRange[0] && n <= frameRange[1];
  });
}
const files = [...new Set(rows.map((r) => r.file))].sort();
if (files.length === 0) fail(`no frames in ${gtFile}${values.frames ? ` within --frames ${values.frames}` : ""}`);
const imageOf = new Map(files.map((f, i) => [f, i]));
const truths = rows.map((r) => ({ ...r, image: imageOf.get(r.file) }));

/** Frame size from the JPEG's SOF marker, so the default detect size is the stored frames' own. */
function jpegSize(file) {
  const b = readFileSync(file);
  for (let i = 2; i + 9 < b.length; ) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return [b.readUInt16BE(i + 7), b.readUInt16BE(i + 5)];
    }
    i += 2 + len;
  }
  return undefined;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

const detector = await Detector.open({
  name: path.basename(values.detector),
  model: { path: path.resolve(values.detector) },
  providers: ["cpu"],
  threads,
}).catch((err) => fail(`${err.code ?? "error"}: ${err.message}`));
let outputs;
try {
  outputs = report.signClassesOfLabels(detector.info.labels);
} catch (err) {
  await detector.close();
  fail(`${path.basename(values.detector)}: ${err.message}`);
}
// The classifier runs as a camera's `classify` rule would: every box, one batched run() per frame.
let stage;
let classOutputs;
let classifier;
let cropPadding;
if (values.classifier) {
  let rule;
  try {
    rule = classifyRuleSchema.parse({
      model: "classifier",
      padding: values["crop-padding"] === undefined ? undefined : Number(values["crop-padding"]),
      min_size: Number(values["min-crop"]),
      score: values.score,
      max_crops: 256,
    });
  } catch (err) {
    await detector.close();
    fail(`classifier options: ${err.issues?.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") ?? err.message}`);
  }
  classifier = await Classifier.open({ name: path.basename(values.classifier), path: path.resolve(values.classifier), providers: ["cpu"], threads }).catch(
    async (err) => {
      await detector.close();
      fail(`${err.code ?? "error"}: ${err.message}`);
    },
  );
  try {
    classOutputs = report.signClassesOfLabels(classifier.info.labels);
  } catch (err) {
    await Promise.all([detector.close(), classifier.close()]);
    fail(`${path.basename(values.classifier)}: ${err.message}`);
  }
  const source = singleClassifier(classifier);
  stage = (picture, detections) => classifyDetections(source, [rule], picture, detections);
  cropPadding = rule.padding ?? classifier.info.cropPadding ?? 0.15;
}

// Decode every frame first, so the timed loop below holds detection only.
const frames = [];
for (const file of files) {
  const full = path.join(values.gt, file);
  const stored = jpegSize(full);
  if (!stored) fail(`${full}: not a baseline/progressive JPEG`);
  const [width, height] = detectSize ?? stored;
  const rgb = await grabFrame({ source: full, width, height, rtspTransport: "tcp", timeoutSeconds: 20 });
  frames.push({ rgb: new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.length), width, height, sx: stored[0] / width, sy: stored[1] / height });
}

// Class-agnostic NMS is how sign cameras are configured (config/traffic-signs.yaml): one sign, one label.
const classAgnostic = !values["nms-class-aware"];
const filter = { min_score: minScore, nms_iou: nmsIou, nms_class_agnostic: classAgnostic, tiles };
const tiled = new TiledDetection();
const predictions = [];
const wallMs = [];
const inferMs = [];
const cpuStart = process.cpuUsage();
for (let image = 0; image < frames.length; image++) {
  const f = frames[image];
  const t0 = performance.now();
  const picture = { data: f.rgb, width: f.width, height: f.height };
  const result = await tiled.detect((input, f) => detector.detect(input, f), picture, filter);
  let detections = result.detections;
  let classified = detections.map(() => false);
  let ms = result.inferMs;
  if (stage) {
    const refined = await stage(picture, detections);
    // A box the classifier named is a new object; one it skipped (under --min-crop) is the detector's own.
    classified = refined.detections.map((d, i) => d !== detections[i]);
    detections = refined.detections;
    ms += refined.inferMs;
  }
  wallMs.push(performance.now() - t0);
  inferMs.push(ms);
  for (const [k, d] of detections.entries()) {
    const o = classified[k] ? classOutputs[d.classId] : outputs[d.classId];
    const box = [d.box[0] * f.sx, d.box[1] * f.sy, d.box[2] * f.sx, d.box[3] * f.sy];
    predictions.push({ image, box, score: d.score, classId: o.classId, category: o.category });
  }
}
const cpu = process.cpuUsage(cpuStart);
await Promise.all([detector.close(), classifier?.close()]);

const scores = report.signReport(predictions, truths, frames.length, { fpPerImage });
const result = {
  gt: path.resolve(values.gt),
  frames: values.frames ?? "all",
  detector: path.basename(values.detector),
  detector_input: [detector.info.inputWidth, detector.info.inputHeight],
  detect_size: [frames[0].width, frames[0].height],
  classifier: values.classifier ? path.basename(values.classifier) : null,
  settings: {
    min_score: minScore,
    nms_iou: nmsIou,
    nms_class_agnostic: classAgnostic,
    threads,
    tiles: tiles ? { ...tiles, rects: tileRects(frames[0].width, frames[0].height, tiles) } : null,
    ...(stage ? { crop_padding: cropPadding, min_crop: Number(values["min-crop"]), score: values.score } : {}),
  },
  ...scores,
  timing: {
    // process CPU (main thread + worker) per frame: stable on a busy machine, unlike wall time
    cpu_ms_per_frame: (cpu.user + cpu.system) / 1000 / frames.length,
    wall_ms_per_frame_median: median(wallMs),
    // run() of the detector plus the classifier's batch
    infer_ms_per_frame_median: median(inferMs),
    loadavg_1m: loadavg()[0],
  },
};

const f3 = (v) => (v === null || Number.isNaN(v) ? "  n/a" : v.toFixed(3));
console.log(
  `${result.detector} (input ${result.detector_input.join("x")}, frames fed at ${result.detect_size.join("x")})` +
    (tiles ? `, ${result.settings.tiles.rects.length} tiles ${JSON.stringify(result.settings.tiles.rects)}` : "") +
    (result.classifier ? ` + ${result.classifier} (crop padding ${cropPadding}, score ${values.score})` : "") +
    " on " +
    `${scores.images} frames, ${scores.signs} signs of ${result.gt} (${result.frames})`,
);
console.log(`class-agnostic AP@0.5   ${f3(scores.ap50_class_agnostic)}`);
console.log(`43-class mAP@0.5        ${f3(scores.map50_43class)}`);
console.log(
  `4-category mAP@0.5      ${f3(scores.map50_4category)}  ` +
    Object.entries(scores.per_category_ap50)
      .map(([k, v]) => `${k} ${f3(v.ap)} (${v.signs})`)
      .join(", "),
);
const op = scores.recall_at_fp;
console.log(`recall at <= ${op.fp_per_image} FP/img, right ${op.by}: ${f3(op.recall)} (score >= ${f3(op.threshold)}, ${op.false_positives} FP)`);
for (const b of scores.recall_by_size) {
  const [lo, hi] = b.range;
  console.log(
    `  ${String(lo).padStart(3)}-${hi === null || hi === Infinity ? "inf" : hi} px: right ${op.by} ${f3(b.recall_right_class)}, found ${f3(b.recall_found)} (n=${b.signs})`,
  );
}
const acc = scores.classification_accuracy_of_found;
console.log(
  `classification accuracy of found signs (${acc.by}): ${f3(acc.accuracy)} of ${acc.found} (class-agnostic <= ${op.fp_per_image} FP/img, score >= ${f3(acc.threshold)})`,
);
console.log(
  `ms/frame: ${result.timing.cpu_ms_per_frame.toFixed(1)} CPU, median wall ${result.timing.wall_ms_per_frame_median.toFixed(1)}, ` +
    `median run() ${result.timing.infer_ms_per_frame_median.toFixed(1)}; ${threads} thread(s), load average ${result.timing.loadavg_1m.toFixed(2)}`,
);
if (values.json) {
  // JSON has no Infinity: an open-ended size band or an unreachable threshold is written as null.
  writeFileSync(values.json, JSON.stringify(result, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 1) + "\n");
  console.log(`report: ${values.json}`);
}
