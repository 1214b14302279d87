// One crop classifier's InferenceSession, off the main thread (run() holds its thread for the whole
// inference). Every request is one frame: its crops are cut here, from the shared frame buffer, into one
// batched input and classified in a single run().
import path from "node:path";
import { workerData } from "node:worker_threads";
import ort from "onnxruntime-node";
import { DetectorError } from "../detect/detector-error.js";
import { readModel } from "../detect/model-file.js";
import { resolveClassifierInfo, type ClassifierInfo } from "./classifier-info.js";
import type { ClassifierInit, ClassifyRequest, FromClassifierWorker } from "./classifier-protocol.js";
import { writeCrop } from "./crops.js";
import { createSession } from "../detect/onnx-session.js";
import { serveModel } from "../detect/worker-loop.js";

ort.env.logLevel = "fatal";
const init = workerData as ClassifierInit;

async function open() {
  const base = path.basename(init.path);
  const { bytes, description } = await readModel(init.path);
  const { session, provider, skipped } = await createSession(bytes, base, init.providers, init.threads, init.gpu);
  if (session.inputMetadata.length !== 1 || session.outputMetadata.length < 1) {
    throw new DetectorError("EVA_MODEL_UNSUPPORTED", `${base}: ${session.inputMetadata.length} inputs; one image input expected`);
  }
  const meta = (m: ort.InferenceSession.ValueMetadata) =>
    m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: "non-tensor", shape: [] };
  const info = resolveClassifierInfo({
    file: base,
    metadata: description.metadata,
    input: meta(session.inputMetadata[0]),
    output: meta(session.outputMetadata[0]),
  });
  return { session, provider, skipped, info, batch: new Batch(info) };
}

/** The batched input buffer, grown (never shrunk) to the most crops a frame has needed. */
class Batch {
  private capacity = 0;
  data: Uint8Array | Float32Array = new Uint8Array(0);
  private readonly cropValues: number;

  constructor(private readonly info: ClassifierInfo) {
    this.cropValues = info.size * info.size * 3;
  }

  reserve(n: number): void {
    if (n <= this.capacity) return;
    this.capacity = Math.max(n, this.capacity * 2, 8);
    const values = this.capacity * this.cropValues;
    this.data = this.info.dtype === "uint8" ? new Uint8Array(values) : new Float32Array(values);
  }

  tensor(n: number): ort.Tensor {
    const { size, layout, dtype } = this.info;
    const dims = layout === "NHWC" ? [n, size, size, 3] : [n, 3, size, size];
    return new ort.Tensor(dtype, this.data.subarray(0, n * this.cropValues), dims);
  }
}

type Loaded = Awaited<ReturnType<typeof open>>;

async function classify(m: Loaded, req: ClassifyRequest): Promise<FromClassifierWorker> {
  const { width, height, regions } = req;
  if (!(width > 0 && height > 0 && req.byteOffset + width * height * 3 <= req.buffer.byteLength)) {
    throw new DetectorError("EVA_FRAME_INVALID", `frame ${width}×${height} does not fit its ${req.buffer.byteLength}-byte buffer`);
  }
  const n = regions.length / 4;
  if (n === 0) return { type: "result", id: req.id, classIds: [], scores: [], inferMs: 0 };
  const rgb = new Uint8Array(req.buffer, req.byteOffset, width * height * 3);
  m.batch.reserve(n);
  for (let i = 0; i < n; i++) {
    writeCrop(rgb, width, height, [regions[4 * i], regions[4 * i + 1], regions[4 * i + 2], regions[4 * i + 3]], m.info, m.batch.data, i);
  }
  const start = performance.now();
  const outputs = await m.session.run({ [m.info.inputName]: m.batch.tensor(n) });
  const inferMs = performance.now() - start;
  const out = outputs[m.info.outputName];
  if (out.type !== "float32") throw new DetectorError("EVA_INFERENCE_FAILED", `output '${m.info.outputName}' is ${out.type}, float32 expected`);
  const classes = m.info.labels.length;
  if (out.dims.length !== 2 || out.dims[0] !== n || out.dims[1] !== classes) {
    throw new DetectorError("EVA_INFERENCE_FAILED", `output [${out.dims.join(", ")}] for ${n} crops; [${n}, ${classes}] expected`);
  }
  const probs = out.data as Float32Array;
  const classIds: number[] = [];
  const scores: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[row + c] > probs[row + best]) best = c;
    let score = probs[row + best];
    if (!m.info.probabilities) {
      // softmax of the winner only: exp(0) / Σ exp(l − max)
      let sum = 0;
      for (let c = 0; c < classes; c++) sum += Math.exp(probs[row + c] - probs[row + best]);
      score = 1 / sum;
    }
    classIds.push(best);
    scores.push(score);
  }
  return { type: "result", id: req.id, classIds, scores, inferMs };
}

serveModel<Loaded, ClassifyRequest>({
  open,
  ready: (m) => ({ info: m.info, provider: m.provider, skipped: m.skipped }) satisfies Omit<Extract<FromClassifierWorker, { type: "ready" }>, "type">,
  run: classify,
  release: (m) => m.session.release(),
});
