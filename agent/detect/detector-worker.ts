// One model's InferenceSession, off the main thread: onnxruntime-node's run() holds the thread for the whole
// inference, which would stall every camera's ingest and the MQTT client if it ran beside them.
import path from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import ort from "onnxruntime-node";
import { DetectionPipeline } from "./detection-pipeline.js";
import { DetectorError } from "./detector-error.js";
import type { DetectFilter } from "./detect-filter.js";
import type { DetectRequest, FilterRequest, FromWorker, PlanesAt, WorkerInit } from "./detector-protocol.js";
import type { ScaledPicture, ScaledYuv } from "./model-input.js";
import type { Yuv420 } from "../core/pixels.js";
import { resolveModelInfo } from "./model-info.js";
import { openSession } from "./onnx-session.js";
import { readLabelsFile, readModel } from "./model-file.js";
import { serveModel } from "./worker-loop.js";

// A provider that fails to load is also printed to stderr by onnxruntime's global logger, as a wall of text
// on every start of a CPU-only box; the error each attempt throws says the same and is what we report.
ort.env.logLevel = "fatal";
const init = workerData as WorkerInit;

/** A TensorRT build's notice while the model loads; serveModel sends the rest. */
function send(msg: FromWorker): void {
  parentPort!.postMessage(msg);
}

/** A fresh TensorRT build not yet sealed: thrown away (and its lock released) if loading fails after it. */
let unfinished: ((ok: boolean) => string | null) | null = null;

async function open() {
  const file = init.model.path;
  const base = path.basename(file);
  const { bytes, description } = await readModel(file);
  const labelsText = init.model.labels ? await readLabelsFile(init.model.labels) : undefined;
  const {
    session,
    provider,
    skipped,
    warnings: sessionWarnings,
    engine,
    finish,
    placement,
  } = await openSession(bytes, base, {
    ...init,
    qdq: description.qdq,
    placement: true,
    engineCache: { onnxruntimeVersion: ort.env.versions.common, building: (p, key, why) => send({ type: "building", provider: p, key, why }) },
  });
  // a load that fails after this point also removes the placement profile's folder
  unfinished = (ok) => (placement?.discard(), finish(ok));
  if (session.inputMetadata.length !== 1 || session.outputMetadata.length < 1) {
    throw new DetectorError(
      "EVA_MODEL_UNSUPPORTED",
      `${base}: ${session.inputMetadata.length} inputs and ${session.outputMetadata.length} outputs; one image input and a detection output expected`,
    );
  }
  const tensorMeta = (m: ort.InferenceSession.ValueMetadata) =>
    m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: "non-tensor", shape: [] };
  const { info, warnings } = resolveModelInfo({
    file: base,
    config: init.model,
    metadata: description.metadata,
    input: tensorMeta(session.inputMetadata[0]),
    output: tensorMeta(session.outputMetadata[0]),
    labelsText,
  });
  const pipeline = new DetectionPipeline(info);
  const dims = info.inputLayout === "NCHW" ? [1, 3, info.inputHeight, info.inputWidth] : [1, info.inputHeight, info.inputWidth, 3];
  // The tensor wraps the pipeline's buffer, so every frame's pre-processing lands in it without a copy.
  const tensor = new ort.Tensor(info.inputDtype, pipeline.input, dims);
  // Warm-up on the blank input before any camera frame: CUDA kernels load, a TensorRT engine that builds at
  // the first run builds here, so the first real frame is not the one that waits (the 30 s detect watchdog).
  const t0 = performance.now();
  try {
    await session.run({ [info.inputName]: tensor });
  } catch (err) {
    throw new DetectorError("EVA_INFERENCE_FAILED", `${base}: warm-up inference failed on ${provider} (${(err as Error).message.split("\n")[0]})`);
  }
  const warmupMs = Math.round(performance.now() - t0);
  const nodes = placement?.read(session) ?? undefined;
  warnings.push(...sessionWarnings);
  const sealWarning = finish(true);
  if (sealWarning) warnings.push(sealWarning);
  // One feeds object for every run(): nothing to build per frame.
  const feeds = { [info.inputName]: tensor };
  return { session, provider, skipped, warnings, info, pipeline, tensor, feeds, warmupMs, engine, nodes };
}

type Loaded = Awaited<ReturnType<typeof open>>;

/** Each camera's filter by the id the main thread gave it; replaced when the camera is reconfigured. */
const filters = new Map<number, DetectFilter>();
// Reused across frames: views are only re-made when a frame lies in a different buffer or place.
const scaledView: ScaledPicture = { data: new Uint8Array(0), width: 0, height: 0, stride: 0 };
let frameView: Uint8Array = new Uint8Array(0);
const noPlane = new Uint8Array(0);
const scaledYuv: ScaledYuv = { width: 0, height: 0, yuv: { y: noPlane, u: noPlane, v: noPlane, width: 0, height: 0, yStride: 0, cStride: 0 } };
let frameYuv: Yuv420 = scaledYuv.yuv;

/** A size mismatch between the picture and the model is the caller's bug, reported as an invalid frame. */
function invalid(err: unknown): DetectorError {
  return new DetectorError("EVA_FRAME_INVALID", (err as Error).message);
}

function fits(buffer: SharedArrayBuffer, offset: number, bytes: number): boolean {
  return offset >= 0 && offset + bytes <= buffer.byteLength;
}

/** Views of a YUV 4:2:0 picture's planes in the shared buffer, checked to fit; the same views while nothing moved. */
function planeViews(current: Yuv420, buffer: SharedArrayBuffer, at: PlanesAt, width: number, height: number, what: string): Yuv420 {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const yBytes = (height - 1) * at.yStride + width;
  const cBytes = (ch - 1) * at.cStride + cw;
  const inside = fits(buffer, at.y, yBytes) && fits(buffer, at.u, cBytes) && fits(buffer, at.v, cBytes);
  if (!(width > 0 && height > 0 && at.yStride >= width && at.cStride >= cw && inside)) {
    throw new DetectorError("EVA_FRAME_INVALID", `${what} ${width}×${height} (YUV 4:2:0) does not fit its ${buffer.byteLength}-byte buffer`);
  }
  const y = view(current.y, buffer, at.y, yBytes);
  const u = view(current.u, buffer, at.u, cBytes);
  const v = view(current.v, buffer, at.v, cBytes);
  if (y === current.y && u === current.u && v === current.v && current.width === width && current.height === height) return current;
  return { y, u, v, width, height, yStride: at.yStride, cStride: at.cStride };
}

function view(current: Uint8Array, buffer: SharedArrayBuffer, byteOffset: number, length: number): Uint8Array {
  return current.buffer === buffer && current.byteOffset === byteOffset && current.length === length ? current : new Uint8Array(buffer, byteOffset, length);
}

async function detect(m: Loaded, req: DetectRequest): Promise<FromWorker> {
  const { width, height } = req;
  let { scaled } = req;
  const filter = filters.get(req.filterId);
  if (!filter) throw new DetectorError("EVA_FRAME_INVALID", `frame names filter ${req.filterId}, which was never sent`);
  let placement;
  // A picture scaled for another model (the camera's ffmpeg predates a model swap) is not used: resize the frame.
  if (scaled && !m.pipeline.fitsScaled(scaled, width, height)) scaled = undefined;
  if (scaled?.yuv) {
    const { width: sw, height: sh } = scaled;
    const planes = planeViews(scaledYuv.yuv, req.buffer, scaled.yuv, sw, sh, "scaled picture");
    scaledYuv.yuv = planes;
    scaledYuv.width = sw;
    scaledYuv.height = sh;
    try {
      placement = m.pipeline.prepareScaledYuv(scaledYuv, width, height);
    } catch (err) {
      throw invalid(err);
    }
  } else if (scaled) {
    const bytes = (scaled.height - 1) * scaled.stride + scaled.width * 3;
    if (!(scaled.width > 0 && scaled.height > 0 && scaled.stride >= scaled.width * 3 && scaled.byteOffset + bytes <= req.buffer.byteLength)) {
      throw new DetectorError("EVA_FRAME_INVALID", `scaled picture ${scaled.width}×${scaled.height} does not fit its ${req.buffer.byteLength}-byte buffer`);
    }
    scaledView.data = view(scaledView.data, req.buffer, scaled.byteOffset, bytes);
    scaledView.width = scaled.width;
    scaledView.height = scaled.height;
    scaledView.stride = scaled.stride;
    try {
      placement = m.pipeline.prepareScaled(scaledView, width, height);
    } catch (err) {
      throw invalid(err);
    }
  } else if (req.yuv) {
    frameYuv = planeViews(frameYuv, req.buffer, req.yuv, width, height, "frame");
    placement = m.pipeline.prepareYuv(frameYuv, width, height);
  } else {
    if (!(width > 0 && height > 0 && req.byteOffset + width * height * 3 <= req.buffer.byteLength)) {
      throw new DetectorError("EVA_FRAME_INVALID", `frame ${width}×${height} does not fit its ${req.buffer.byteLength}-byte buffer`);
    }
    frameView = view(frameView, req.buffer, req.byteOffset, width * height * 3);
    placement = m.pipeline.prepare(frameView, width, height);
  }
  const start = performance.now();
  const outputs = await m.session.run(m.feeds);
  const inferMs = performance.now() - start;
  const out = outputs[m.info.outputName];
  if (out.type !== "float32") throw new DetectorError("EVA_INFERENCE_FAILED", `output '${m.info.outputName}' is ${out.type}, float32 expected`);
  const detections = m.pipeline.finish(out.data as Float32Array, out.dims, filter, placement, width, height);
  return { type: "result", id: req.id, detections, inferMs };
}

serveModel<Loaded, DetectRequest>({
  open,
  ready: (m) =>
    ({
      info: m.info,
      provider: m.provider,
      skipped: m.skipped,
      warnings: m.warnings,
      warmupMs: m.warmupMs,
      ...(m.engine ? { engine: m.engine } : {}),
      ...(m.nodes ? { nodes: m.nodes } : {}),
    }) satisfies Omit<Extract<FromWorker, { type: "ready" }>, "type">,
  run: detect,
  release: (m) => m.session.release(),
  openFailed: () => unfinished?.(false),
  // A filter comes before the first frame that names it, on the same port: keep it at once.
  immediate: (msg) => {
    if (msg.type !== "filter") return false;
    const { id, filter } = msg as FilterRequest;
    filters.set(id, filter);
    return true;
  },
});
