import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import type { ModelConfig, Provider } from "../config/schema.js";
import type { DetectFilter } from "./detect-filter.js";
import type { Detection } from "../core/detection.js";
import { DetectorError } from "./detector-error.js";
import { workerReady } from "./worker-ready.js";
import type { DetectRequest, FromWorker, PlanesAt, ToWorker, WorkerInit } from "./detector-protocol.js";
import { inputSpecOf } from "./model-info.js";
import { isIdentityPlacement, placeFrame, type ScaledPicture, type ScaledYuv } from "./model-input.js";
import type { Yuv420 } from "../core/pixels.js";
import type { ModelInfo } from "./model-info.js";
import { ignoredGpuOptionsNote, type GpuOptions } from "./providers.js";

export interface DetectorOptions {
  /** the model's key under `models`, for logs */
  name: string;
  model: ModelConfig;
  providers: readonly Provider[];
  /** intra-op threads per session */
  threads: number;
  /**
   * sessions (worker threads) for the model, default 1. More than one is only opened on the CPU provider: a GPU
   * serialises the sessions' runs anyway and each would hold its own copy of the engine.
   */
  workers?: number;
  /** detector.tensorrt and detector.cuda */
  gpu?: GpuOptions;
  logger?: Logger;
}

/** A CPU-only build says once per process that it ignores the GPU options, not once per model. */
let gpuOptionsNoted = false;
/** How often a TensorRT build that is still running is logged: a Jetson Nano-class build takes minutes. */
const BUILD_PROGRESS_MS = 15_000;

export interface DetectInput {
  /**
   * packed RGB24, at least width × height × 3 bytes; a view into a SharedArrayBuffer is passed without a copy.
   * Not read when `yuv` is in shared memory (a camera frame's RGB may be converted only when read).
   */
  readonly data: Uint8Array;
  width: number;
  height: number;
  /** the frame as planar YUV 4:2:0, when the camera delivers that */
  yuv?: Yuv420 | undefined;
  /**
   * the same picture already scaled by ffmpeg to the model's content size (see `scaledSize`), in the same
   * SharedArrayBuffer as the frame: the worker then converts it and resizes nothing
   */
  scaled?: ScaledPicture | ScaledYuv | undefined;
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
  session?: Session;
}

interface Session {
  worker: Worker;
  /** frames posted and not yet answered */
  outstanding: number;
  /** filter ids this worker has been sent */
  filters: Set<number>;
}

/** A worker runs one frame and holds one more, so it starts the next the moment a run ends. */
const QUEUED_AHEAD = 1;

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

type Ready = Extract<FromWorker, { type: "ready" }>;

/** Starts one worker and waits for its session; rejects with a DetectorError naming the file when it cannot. */
function startWorker(opts: DetectorOptions, index: number, log: Logger | undefined): Promise<{ worker: Worker; ready: Ready }> {
  const init: WorkerInit = { name: opts.name, model: opts.model, providers: opts.providers, threads: opts.threads, ...(opts.gpu ? { gpu: opts.gpu } : {}) };
  const worker = new Worker(workerUrl(), { workerData: init, name: `detect:${opts.name}:${index}` });
  let progress: NodeJS.Timeout | undefined;
  const ready = workerReady<Ready>(worker, `model '${opts.name}'`, (msg) => {
    if (msg.type !== "building") return false;
    const { provider, key, why } = msg as Extract<FromWorker, { type: "building" }>;
    log?.info({ provider, key, why }, "building TensorRT engine (minutes on a Jetson; cameras run meanwhile, detection starts after it)");
    const since = performance.now();
    progress = setInterval(() => log?.info({ elapsed_s: Math.round((performance.now() - since) / 1000) }, "still building TensorRT engine"), BUILD_PROGRESS_MS);
    progress.unref();
    return true;
  });
  return ready.then((r) => ({ worker, ready: r })).finally(() => clearInterval(progress));
}

/**
 * The size ffmpeg should scale a width × height frame to for a model (the letterbox or stretch content, border
 * excluded), so that the worker converts and resizes nothing; null when the frame already is the model's input.
 */
export function scaledSize(info: ModelInfo, width: number, height: number): { width: number; height: number } | null {
  const spec = inputSpecOf(info);
  const p = placeFrame(width, height, spec);
  if (isIdentityPlacement(p, spec)) return null;
  return { width: p.contentWidth, height: p.contentHeight };
}

/**
 * One model's inference, shared by the cameras that use it: a small pool of worker threads, each with its own
 * session. Frames go to the least busy worker, each worker holding one frame queued ahead; beyond that they
 * wait in arrival order. A camera has at most one frame in the detector (its frame pool holds the rest, the
 * newest winning), so arrival order is round-robin by camera: no camera can starve another.
 */
export class Detector {
  private readonly pending = new Map<number, Pending>();
  private readonly waiting: { msg: DetectRequest; filter: DetectFilter; pending: Pending }[] = [];
  private readonly spare: SharedArrayBuffer[] = [];
  private readonly filterIds = new WeakMap<DetectFilter, number>();
  private readonly sessions: Session[];
  private nextId = 1;
  private nextFilterId = 1;
  private fault: DetectorError | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    workers: Worker[],
    readonly name: string,
    /** the execution provider that runs the model: "tensorrt", "cuda" or "cpu" */
    readonly provider: string,
    readonly info: ModelInfo,
  ) {
    this.sessions = workers.map((worker) => ({ worker, outstanding: 0, filters: new Set() }));
    for (const s of this.sessions) {
      s.worker.on("message", (msg: FromWorker) => this.onMessage(msg));
      s.worker.on("error", (err) => this.die(`worker crashed: ${err.message}`));
      s.worker.on("exit", (code) => this.die(`worker exited with code ${code}`));
    }
  }

  /** Loads the model in its workers; rejects with a DetectorError naming the file when it cannot. */
  static async open(opts: DetectorOptions): Promise<Detector> {
    const log = opts.logger?.child({ model: opts.name });
    const first = await startWorker(opts, 0, log);
    const { ready } = first;
    for (const s of ready.skipped) log?.warn({ provider: s.provider, err: s.error }, "execution provider unavailable, trying the next");
    for (const w of ready.warnings) log?.warn(w);
    const e = ready.engine;
    if (e?.cache === "hit") log?.info({ key: e.key, load_s: e.ms / 1000 }, "TensorRT engine loaded from cache");
    else if (e) log?.info({ key: e.key, cache: e.cache, build_s: e.ms / 1000, dir: e.dir }, "TensorRT engine built");
    if (ready.nodes) log?.info({ provider: ready.provider, nodes: ready.nodes }, "nodes per execution provider");
    const note = opts.gpu ? ignoredGpuOptionsNote(opts.providers, ready.provider) : null;
    if (note && !gpuOptionsNoted) {
      gpuOptionsNoted = true;
      log?.info(note);
    }
    const count = ready.provider === "cpu" ? Math.max(1, opts.workers ?? 1) : 1;
    // The others load the same file on the provider the first one found (cpu: the only one that pools).
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, (_, i) => startWorker({ ...opts, providers: ["cpu"] }, i + 1, undefined)));
    const workers = [first.worker, ...rest.flatMap((r) => (r.status === "fulfilled" ? [r.value.worker] : []))];
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw failed.reason;
    }
    log?.info(
      {
        provider: ready.provider,
        format: ready.info.format,
        input: `${ready.info.inputWidth}x${ready.info.inputHeight}`,
        warmup_ms: ready.warmupMs,
        workers: count,
        threads: opts.threads,
      },
      "detector ready",
    );
    return new Detector(workers, opts.name, ready.provider, ready.info);
  }

  /** sessions serving this model */
  get workers(): number {
    return this.sessions.length;
  }

  /**
   * Detects objects in a frame; boxes come back in the frame's pixels. Pass the camera's filter object as it
   * stays from one reconfigure to the next: each distinct object is sent to the workers once, then named by id.
   */
  detect(frame: DetectInput, filter: DetectFilter): Promise<DetectResult> {
    if (this.fault) return Promise.reject(this.fault);
    if (this.closing) return Promise.reject(new DetectorError("EVA_DETECTOR_CLOSED", `model '${this.name}': detector is closed`));
    const { width, height, scaled, yuv } = frame;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      return Promise.reject(new DetectorError("EVA_FRAME_INVALID", `model '${this.name}': frame size ${width}×${height} is not a positive whole size`));
    }
    // A YUV frame in shared memory goes as its planes' places: its RGB is never made for the detector.
    const shared = yuv && yuv.y.buffer instanceof SharedArrayBuffer && inBuffer(yuv, yuv.y.buffer) ? yuv : null;
    const size = width * height * 3;
    const data = shared ? null : frame.data;
    if (data && data.length < size) {
      return Promise.reject(
        new DetectorError("EVA_FRAME_INVALID", `model '${this.name}': frame ${width}×${height} needs ${size} RGB bytes, got ${data.length}`),
      );
    }
    const id = this.nextId++;
    let filterId = this.filterIds.get(filter);
    if (filterId === undefined) {
      filterId = this.nextFilterId++;
      this.filterIds.set(filter, filterId);
    }
    return new Promise<DetectResult>((resolve, reject) => {
      const pending: Pending = { resolve, reject };
      let buffer: SharedArrayBuffer;
      let byteOffset: number;
      let planes: PlanesAt | undefined;
      let scaledAt: DetectRequest["scaled"];
      const frameBuffer = shared ? shared.y.buffer : data!.buffer;
      const scaledHere = !scaled || (scaled.yuv ? inBuffer(scaled.yuv, frameBuffer) : scaled.data.buffer === frameBuffer);
      if (frameBuffer instanceof SharedArrayBuffer && scaledHere) {
        buffer = frameBuffer;
        if (shared) {
          planes = planesAt(shared);
          byteOffset = planes.y;
        } else byteOffset = data!.byteOffset;
        if (scaled?.yuv)
          scaledAt = { byteOffset: scaled.yuv.y.byteOffset, width: scaled.width, height: scaled.height, stride: scaled.yuv.yStride, yuv: planesAt(scaled.yuv) };
        else if (scaled) scaledAt = { byteOffset: scaled.data.byteOffset, width: scaled.width, height: scaled.height, stride: scaled.stride };
      } else {
        // A frame in ordinary memory cannot be shared; copy it once into a pooled shared buffer (the frame only:
        // the worker resizes it, this path is for tests and tools, not cameras).
        const rgb = data ?? frame.data;
        buffer = this.takeSpare(size);
        new Uint8Array(buffer, 0, size).set(rgb.subarray(0, size));
        byteOffset = 0;
        pending.staging = buffer;
      }
      this.pending.set(id, pending);
      const msg: DetectRequest = { type: "detect", id, buffer, byteOffset, width, height, filterId };
      if (planes) msg.yuv = planes;
      if (scaledAt) msg.scaled = scaledAt;
      this.waiting.push({ msg, filter, pending });
      this.pump();
    });
  }

  /** Releases the sessions and ends the workers; pending detections are answered first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.fault) return;
      // Frames still waiting for a worker go out first, then each worker is told to close after them.
      while (this.waiting.length && !this.fault) {
        this.pump();
        if (this.waiting.length) await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(
        this.sessions.map(
          (s) =>
            new Promise<void>((resolve) => {
              const timer = setTimeout(() => void s.worker.terminate(), 5000);
              s.worker.once("exit", () => {
                clearTimeout(timer);
                resolve();
              });
              s.worker.postMessage({ type: "close" } satisfies ToWorker);
            }),
        ),
      );
    })();
    return this.closing;
  }

  /** Hands waiting frames to the least busy workers that have room. */
  private pump(): void {
    while (this.waiting.length) {
      let best: Session | undefined;
      for (const s of this.sessions) if (s.outstanding <= QUEUED_AHEAD && (!best || s.outstanding < best.outstanding)) best = s;
      if (!best) return;
      const job = this.waiting.shift()!;
      const fid = job.msg.filterId;
      if (!best.filters.has(fid)) {
        best.worker.postMessage({ type: "filter", id: fid, filter: job.filter } satisfies ToWorker);
        best.filters.add(fid);
      }
      best.outstanding++;
      job.pending.session = best;
      best.worker.postMessage(job.msg satisfies ToWorker);
    }
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
    if (p.session) p.session.outstanding--;
    if (p.staging) this.spare.push(p.staging);
    if (msg.type === "result") p.resolve({ detections: msg.detections, inferMs: msg.inferMs });
    else p.reject(DetectorError.from(msg.error));
    this.pump();
  }

  private die(why: string): void {
    if (this.fault) return;
    const closed = this.closing !== undefined;
    this.fault = closed
      ? new DetectorError("EVA_DETECTOR_CLOSED", `model '${this.name}': detector is closed`)
      : new DetectorError("EVA_DETECTOR_DIED", `model '${this.name}': ${why}; open the detector again`);
    for (const p of this.pending.values()) p.reject(this.fault);
    this.pending.clear();
    this.waiting.length = 0;
    // One worker gone leaves the model half served: end the others, the owner opens the detector again. Not while
    // closing: the first worker to finish its close exits first, and terminating the others in the middle of their
    // run() or session release aborts the whole process (onnxruntime's Napi::Error, "terminate called"); they exit
    // on their own, and close() has its own deadline.
    if (!closed) for (const s of this.sessions) void s.worker.terminate();
  }
}

export { DetectorError } from "./detector-error.js";
export type { DetectorErrorCode } from "./detector-error.js";
export type { DetectFilter } from "./detect-filter.js";
export type { ModelInfo } from "./model-info.js";

/** Whether all three planes lie in this buffer. */
function inBuffer(p: Yuv420, buffer: ArrayBufferLike): boolean {
  return p.y.buffer === buffer && p.u.buffer === buffer && p.v.buffer === buffer;
}

function planesAt(p: Yuv420): PlanesAt {
  return { y: p.y.byteOffset, u: p.u.byteOffset, v: p.v.byteOffset, yStride: p.yStride, cStride: p.cStride };
}
