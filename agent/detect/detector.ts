import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { ModelConfig, Provider } from "../config/schema.js";
import type { DetectFilter } from "./detect-filter.js";
import type { Detection } from "./detection.js";
import { DetectorError } from "./detector-error.js";
import type { FromWorker, ToWorker, WorkerInit } from "./detector-protocol.js";
import type { ModelInfo } from "./model-info.js";
import { ignoredGpuOptionsNote, type GpuOptions } from "./providers.js";

export interface DetectorOptions {
  /** the model's key under `models`, for logs */
  name: string;
  model: ModelConfig;
  providers: readonly Provider[];
  threads: number;
  /** detector.tensorrt and detector.cuda */
  gpu?: GpuOptions;
  logger?: Logger;
}

/** A CPU-only build says once per process that it ignores the GPU options, not once per model. */
let gpuOptionsNoted = false;
/** How often a TensorRT build that is still running is logged: a Jetson Nano-class build takes minutes. */
const BUILD_PROGRESS_MS = 15_000;

export interface DetectInput {
  /** packed RGB24, at least width × height × 3 bytes; a view into a SharedArrayBuffer is passed without a copy */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface DetectResult {
  detections: Detection[];
  /** time inside onnxruntime's run() */
  inferMs: number;
}

interface Pending {
  resolve(r: DetectResult): void;
  reject(e: DetectorError): void;
  staging?: SharedArrayBuffer;
}

/**
 * Under tsc's output the worker is this file's sibling. When this module runs from its .ts source (vitest),
 * a plain Worker cannot load TypeScript on Node 20, so it takes the compiled twin under dist/ (outDir, same
 * tree); the test globalSetup runs tsc first.
 */
function workerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("../../dist/agent/detect/detector-worker.js", import.meta.url)
    : new URL("./detector-worker.js", import.meta.url);
}

/** One model's inference in its own worker thread, shared by the cameras that use the model. */
export class Detector {
  private readonly pending = new Map<number, Pending>();
  private readonly spare: SharedArrayBuffer[] = [];
  private nextId = 1;
  private fault: DetectorError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    /** the execution provider that runs the model: "tensorrt", "cuda" or "cpu" */
    readonly provider: string,
    readonly info: ModelInfo,
  ) {
    worker.on("message", (msg: FromWorker) => this.onMessage(msg));
    worker.on("error", (err) => this.die(`worker crashed: ${err.message}`));
    worker.on("exit", (code) => this.die(`worker exited with code ${code}`));
  }

  /** Loads the model in a new worker; rejects with a DetectorError naming the file when it cannot. */
  static async open(opts: DetectorOptions): Promise<Detector> {
    const init: WorkerInit = { name: opts.name, model: opts.model, providers: opts.providers, threads: opts.threads, ...(opts.gpu ? { gpu: opts.gpu } : {}) };
    const worker = new Worker(workerUrl(), { workerData: init, name: `detect:${opts.name}` });
    const log = opts.logger?.child({ model: opts.name });
    let building: { since: number; timer: NodeJS.Timeout } | null = null;
    const buildDone = () => {
      if (building) clearInterval(building.timer);
      building = null;
    };
    const ready = await new Promise<Extract<FromWorker, { type: "ready" }>>((resolve, reject) => {
      // Only our own listeners come off: Worker keeps internal ones that ref its message port.
      const settle = () => {
        buildDone();
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const fail = (e: DetectorError) => {
        settle();
        void worker.terminate();
        reject(e);
      };
      const onMessage = (msg: FromWorker) => {
        if (msg.type === "building") {
          log?.info({ provider: msg.provider, key: msg.key, why: msg.why }, "building TensorRT engine (minutes on a Jetson; cameras start after it)");
          const since = performance.now();
          building = {
            since,
            timer: setInterval(() => log?.info({ elapsed_s: Math.round((performance.now() - since) / 1000) }, "still building TensorRT engine"), BUILD_PROGRESS_MS),
          };
          building.timer.unref();
        } else if (msg.type === "ready") {
          settle();
          resolve(msg);
        } else if (msg.type === "failed") fail(DetectorError.from(msg.error));
        else fail(new DetectorError("EVA_DETECTOR_DIED", `model '${opts.name}': unexpected '${msg.type}' from the worker while loading`));
      };
      const onError = (err: Error & { code?: string }) => {
        const hint = err.code === "MODULE_NOT_FOUND" || err.code === "ERR_MODULE_NOT_FOUND" ? " (is dist/ built? run `npx tsc`)" : "";
        fail(new DetectorError("EVA_DETECTOR_DIED", `model '${opts.name}': detector worker failed to start: ${err.message}${hint}`));
      };
      const onExit = (code: number) =>
        fail(new DetectorError("EVA_DETECTOR_DIED", `model '${opts.name}': detector worker exited with code ${code} while loading`));
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
    });
    for (const s of ready.skipped) log?.warn({ provider: s.provider, err: s.error }, "execution provider unavailable, trying the next");
    for (const w of ready.warnings) log?.warn(w);
    const e = ready.engine;
    if (e?.cache === "hit") log?.info({ key: e.key, load_s: e.ms / 1000 }, "TensorRT engine loaded from cache");
    else if (e) log?.info({ key: e.key, cache: e.cache, build_s: e.ms / 1000, dir: e.dir }, "TensorRT engine built");
    const note = opts.gpu ? ignoredGpuOptionsNote(opts.providers, ready.provider) : null;
    if (note && !gpuOptionsNoted) {
      gpuOptionsNoted = true;
      log?.info(note);
    }
    log?.info(
      { provider: ready.provider, format: ready.info.format, input: `${ready.info.inputWidth}x${ready.info.inputHeight}`, warmup_ms: ready.warmupMs },
      "detector ready",
    );
    return new Detector(worker, opts.name, ready.provider, ready.info);
  }

  detect(frame: DetectInput, filter: DetectFilter): Promise<DetectResult> {
    if (this.fault) return Promise.reject(this.fault);
    if (this.closing) return Promise.reject(new DetectorError("EVA_DETECTOR_CLOSED", `model '${this.name}': detector is closed`));
    const { data, width, height } = frame;
    const size = width * height * 3;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data.length >= size)) {
      return Promise.reject(
        new DetectorError("EVA_FRAME_INVALID", `model '${this.name}': frame ${width}×${height} needs ${size} RGB bytes, got ${data.length}`),
      );
    }
    const id = this.nextId++;
    return new Promise<DetectResult>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      let buffer: SharedArrayBuffer;
      let byteOffset: number;
      if (data.buffer instanceof SharedArrayBuffer) {
        buffer = data.buffer;
        byteOffset = data.byteOffset;
      } else {
        // A frame in ordinary memory cannot be shared; copy it once into a pooled shared buffer.
        buffer = this.takeSpare(size);
        new Uint8Array(buffer, 0, size).set(data.subarray(0, size));
        byteOffset = 0;
        pending.staging = buffer;
      }
      this.pending.set(id, pending);
      this.post({ type: "detect", id, buffer, byteOffset, width, height, filter });
    });
  }

  /** Releases the session and ends the worker; pending detections are answered first. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (this.fault) return resolve();
      const timer = setTimeout(() => void this.worker.terminate(), 5000);
      this.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: "close" });
    });
    return this.closing;
  }

  private post(msg: ToWorker): void {
    this.worker.postMessage(msg);
  }

  private takeSpare(size: number): SharedArrayBuffer {
    const i = this.spare.findIndex((b) => b.byteLength >= size);
    return i >= 0 ? this.spare.splice(i, 1)[0] : new SharedArrayBuffer(size);
  }

  private onMessage(msg: FromWorker): void {
    if (msg.type !== "result" && msg.type !== "error") return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (p.staging) this.spare.push(p.staging);
    if (msg.type === "result") p.resolve({ detections: msg.detections, inferMs: msg.inferMs });
    else p.reject(DetectorError.from(msg.error));
  }

  private die(why: string): void {
    if (this.fault) return;
    const closed = this.closing !== undefined;
    this.fault = closed
      ? new DetectorError("EVA_DETECTOR_CLOSED", `model '${this.name}': detector is closed`)
      : new DetectorError("EVA_DETECTOR_DIED", `model '${this.name}': ${why}; open the detector again`);
    for (const p of this.pending.values()) p.reject(this.fault);
    this.pending.clear();
  }
}

export { DetectorError } from "./detector-error.js";
export type { DetectorErrorCode } from "./detector-error.js";
export type { DetectFilter } from "./detect-filter.js";
export type { ModelInfo } from "./model-info.js";
