// Messages between Detector (main thread) and detector-worker. Plain data only: they cross postMessage.
import type { ModelConfig, Provider } from "../config/schema.js";
import type { DetectFilter } from "./detect-filter.js";
import type { Detection } from "./detection.js";
import type { DetectorErrorCode } from "./detector-error.js";
import type { ModelInfo } from "./model-info.js";

export interface WorkerInit {
  name: string;
  model: ModelConfig;
  providers: readonly Provider[];
  threads: number;
}

export interface PlainError {
  code: DetectorErrorCode;
  message: string;
}

export interface DetectRequest {
  type: "detect";
  id: number;
  /** the frame's bytes are `width * height * 3` from `byteOffset`; shared, never copied */
  buffer: SharedArrayBuffer;
  byteOffset: number;
  width: number;
  height: number;
  filter: DetectFilter;
}

export interface CloseRequest {
  type: "close";
}

export type ToWorker = DetectRequest | CloseRequest;

export type FromWorker =
  | {
      type: "ready";
      info: ModelInfo;
      provider: string;
      /** providers tried before the one that runs, and why each failed */
      skipped: { provider: string; error: string }[];
      warnings: string[];
    }
  | { type: "failed"; error: PlainError }
  | { type: "result"; id: number; detections: Detection[]; inferMs: number }
  | { type: "error"; id: number; error: PlainError }
  | { type: "closed" };
