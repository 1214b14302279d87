// Messages between Classifier (main thread) and classifier-worker. Plain data only: they cross postMessage.
import type { Provider } from "../config/schema.js";
import type { PlainError } from "../detect/detector-protocol.js";
import type { GpuOptions } from "../detect/providers.js";
import type { ClassifierInfo } from "./classifier-info.js";

export interface ClassifierInit {
  name: string;
  path: string;
  providers: readonly Provider[];
  threads: number;
  gpu?: GpuOptions;
}

export interface ClassifyRequest {
  type: "classify";
  id: number;
  /** the frame's bytes are `width * height * 3` from `byteOffset`; shared, never copied */
  buffer: SharedArrayBuffer;
  byteOffset: number;
  width: number;
  height: number;
  /** frame-pixel regions to crop, 4 numbers (x1, y1, x2, y2) per crop, padding already applied */
  regions: number[];
}

export type ToClassifierWorker = ClassifyRequest | { type: "close" };

export type FromClassifierWorker =
  | { type: "ready"; info: ClassifierInfo; provider: string; skipped: { provider: string; error: string }[] }
  | { type: "failed"; error: PlainError }
  | { type: "result"; id: number; classIds: number[]; scores: number[]; inferMs: number }
  | { type: "error"; id: number; error: PlainError }
  | { type: "closed" };
