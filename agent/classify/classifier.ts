import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { Provider } from "../config/schema.js";
import type { Box } from "../core/geometry.js";
import { DetectorError } from "../detect/detector-error.js";
import { workerReady } from "../detect/worker-ready.js";
import type { GpuOptions } from "../detect/providers.js";
import type { ClassifierInfo } from "./classifier-info.js";
import type { ClassifierInit, FromClassifierWorker, ToClassifierWorker } from "./classifier-protocol.js";

export interface ClassifierOptions {
  /** the model's key under `models`, for logs and errors */
  name: string;
  path: string;
  providers: readonly Provider[];
  threads: number;
  /** the detector section's GPU provider options */
  gpu?: GpuOptions;
  logger?: Logger;
}

export interface CropClass {
  classId: number;
  label: string;
  score: number;
}

export interface ClassifyResult {
  classes: CropClass[];
  /** time inside onnxruntime's run() for the frame's whole batch */
  inferMs: number;
}

interface Pending {
  resolve(r: ClassifyResult): void;
  reject(e: DetectorError): void;
  staging?: SharedArrayBuffer;
}

/** The compiled twin under dist/ when this module runs from its .ts source (vitest), as for the detector. */
function workerUrl(): URL {
  return import.meta.url.endsWith(".ts")
    ? new URL("../../dist/agent/classify/classifier-worker.js", import.meta.url)
    : new URL("./classifier-worker.js", import.meta.url);
}

/**
 * A crop classifier (DeepStream's secondary GIE) in its own worker thread, shared by the cameras that use it.
 * `classify` takes a frame and regions in its pixels and answers one class per region, from one run().
 */
export class Classifier {
  private readonly pending = new Map<number, Pending>();
  private readonly spare: SharedArrayBuffer[] = [];
  private nextId = 1;
  private fault: DetectorError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly name: string,
    readonly provider: string,
    readonly info: ClassifierInfo,
  ) {
    worker.on("message", (msg: FromClassifierWorker) => this.onMessage(msg));
    worker.on("error", (err) => this.die(`worker crashed: ${err.message}`));
    worker.on("exit", (code) => this.die(`worker exited with code ${code}`));
  }

  static async open(opts: ClassifierOptions): Promise<Classifier> {
    const init: ClassifierInit = { name: opts.name, path: opts.path, providers: opts.providers, threads: opts.threads, ...(opts.gpu ? { gpu: opts.gpu } : {}) };
    const worker = new Worker(workerUrl(), { workerData: init, name: `classify:${opts.name}` });
    const ready = await workerReady<Extract<FromClassifierWorker, { type: "ready" }>>(worker, `classifier '${opts.name}'`);
    const log = opts.logger?.child({ model: opts.name });
    for (const s of ready.skipped) log?.warn({ provider: s.provider, err: s.error }, "execution provider unavailable, trying the next");
    log?.info({ provider: ready.provider, input: `${ready.info.size}x${ready.info.size}`, classes: ready.info.labels.length }, "classifier ready");
    return new Classifier(worker, opts.name, ready.provider, ready.info);
  }

  /** One class per region (frame pixels, padding already applied), all crops in one run(). */
  classify(frame: { data: Uint8Array; width: number; height: number }, regions: readonly Box[]): Promise<ClassifyResult> {
    if (this.fault) return Promise.reject(this.fault);
    if (this.closing) return Promise.reject(new DetectorError("EVA_DETECTOR_CLOSED", `classifier '${this.name}' is closed`));
    if (regions.length === 0) return Promise.resolve({ classes: [], inferMs: 0 });
    const { data, width, height } = frame;
    const size = width * height * 3;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 && data.length >= size)) {
      return Promise.reject(
        new DetectorError("EVA_FRAME_INVALID", `classifier '${this.name}': frame ${width}×${height} needs ${size} RGB bytes, got ${data.length}`),
      );
    }
    const id = this.nextId++;
    return new Promise<ClassifyResult>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      let buffer: SharedArrayBuffer;
      let byteOffset = 0;
      if (data.buffer instanceof SharedArrayBuffer) {
        buffer = data.buffer;
        byteOffset = data.byteOffset;
      } else {
        // A frame in ordinary memory cannot be shared; copy it once into a pooled shared buffer.
        const i = this.spare.findIndex((b) => b.byteLength >= size);
        buffer = i >= 0 ? this.spare.splice(i, 1)[0] : new SharedArrayBuffer(size);
        new Uint8Array(buffer, 0, size).set(data.subarray(0, size));
        pending.staging = buffer;
      }
      this.pending.set(id, pending);
      this.post({ type: "classify", id, buffer, byteOffset, width, height, regions: regions.flat() });
    });
  }

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

  private post(msg: ToClassifierWorker): void {
    this.worker.postMessage(msg);
  }

  private onMessage(msg: FromClassifierWorker): void {
    if (msg.type !== "result" && msg.type !== "error") return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if (p.staging) this.spare.push(p.staging);
    if (msg.type === "error") return p.reject(DetectorError.from(msg.error));
    const labels = this.info.labels;
    p.resolve({ classes: msg.classIds.map((c, i) => ({ classId: c, label: labels[c] ?? `class${c}`, score: msg.scores[i] })), inferMs: msg.inferMs });
  }

  private die(why: string): void {
    if (this.fault) return;
    this.fault = this.closing
      ? new DetectorError("EVA_DETECTOR_CLOSED", `classifier '${this.name}' is closed`)
      : new DetectorError("EVA_DETECTOR_DIED", `classifier '${this.name}': ${why}; open it again`);
    for (const p of this.pending.values()) p.reject(this.fault);
    this.pending.clear();
  }
}
