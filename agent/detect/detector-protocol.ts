// Messages between Detector (main thread) and detector-worker. Plain data only: they cross postMessage.
import type { ModelConfig, Provider } from "../config/schema.js";
import type { DetectFilter } from "./detect-filter.js";
import type { Detection } from "../core/detection.js";
import type { DetectorErrorCode } from "./detector-error.js";
import type { ModelInfo } from "./model-info.js";
import type { GpuOptions } from "./providers.js";

export interface WorkerInit {
  name: string;
  model: ModelConfig;
  providers: readonly Provider[];
  threads: number;
  /** detector.tensorrt and detector.cuda; without them GPU providers run with onnxruntime's defaults */
  gpu?: GpuOptions;
}

/** What happened to the TensorRT engine cache while the session was created. */
export interface EngineReport {
  /** hit: loaded a checked engine; built: none usable, built and sealed; uncached: built, cache not usable */
  cache: "hit" | "built" | "uncached";
  key: string;
  dir: string;
  ms: number;
  /** why an entry was rebuilt, or why nothing could be cached */
  why?: string;
}

export interface PlainError {
  code: DetectorErrorCode;
  message: string;
}

/**
 * A camera's detect filter, sent once per reconfigure (not cloned with every frame); detect requests name it
 * by id.
 */
export interface FilterRequest {
  type: "filter";
  id: number;
  filter: DetectFilter;
}

/** Where a planar YUV 4:2:0 picture's planes start in the frame's buffer, and their row strides. */
export interface PlanesAt {
  y: number;
  u: number;
  v: number;
  yStride: number;
  cStride: number;
}

/** Where ffmpeg's second picture, already at the model's content size, lies in the frame's buffer. */
export interface ScaledPlacement {
  byteOffset: number;
  width: number;
  height: number;
  stride: number;
  /** a YUV picture's planes (byteOffset and stride are then its Y plane's) */
  yuv?: PlanesAt;
}

export interface DetectRequest {
  type: "detect";
  id: number;
  /** the frame's bytes are `width * height * 3` from `byteOffset`; shared, never copied */
  buffer: SharedArrayBuffer;
  byteOffset: number;
  /** a YUV frame's planes instead (byteOffset is then its Y plane's) */
  yuv?: PlanesAt;
  /** the frame's size: boxes come back in its pixels */
  width: number;
  height: number;
  filterId: number;
  /** present when ffmpeg delivered the model's picture beside the frame: the worker converts, never resizes */
  scaled?: ScaledPlacement;
}

export interface CloseRequest {
  type: "close";
}

export type ToWorker = FilterRequest | DetectRequest | CloseRequest;

export type FromWorker =
  /** sent before a session create that may take minutes (a TensorRT build), so the main thread can say so */
  | { type: "building"; provider: string; key: string; why: string }
  | {
      type: "ready";
      info: ModelInfo;
      provider: string;
      /** providers tried before the one that runs, and why each failed */
      skipped: { provider: string; error: string }[];
      warnings: string[];
      /** one inference on a blank frame before the first camera frame: kernels loaded, engine deserialized */
      warmupMs: number;
      engine?: EngineReport;
      /** on a GPU provider: nodes each provider ran in the warm-up (onnxruntime's profile) */
      nodes?: Record<string, { nodes: number; ops: string[] }>;
    }
  | { type: "failed"; error: PlainError }
  | { type: "result"; id: number; detections: Detection[]; inferMs: number }
  | { type: "error"; id: number; error: PlainError }
  | { type: "closed" };
