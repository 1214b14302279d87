import type { Candidates } from "./candidates.js";
import type { InputSpec } from "../core/model-input.js";

/**
 * A detector output format: how to recognise its output tensor, how its exporter feeds the model, and how to
 * read boxes out of it. One file under agent/formats each, listed once in registry.ts.
 */
export interface DetectorFormat {
  /** `models.<name>.format` and the model metadata's `format` */
  readonly name: string;
  /** the reference pre-processing of the format's own exporter; the config and the model's metadata override it */
  readonly input: Pick<InputSpec, "color" | "resize" | "scale">;
  /** whether an output of these dims, from an input of this size, is this format's */
  matches(dims: readonly number[], inputWidth: number, inputHeight: number): boolean;
  /** the classes an output of these dims scores (0 or less when the dims cannot be this format's) */
  classCount(dims: readonly number[]): number;
  /** the candidate boxes an output of these dims holds: the decode buffers are sized for it */
  anchorCount(dims: readonly number[]): number;
  /**
   * Runs on every frame: clears `out` and adds each box (input pixels) whose score reaches `thresholds[class]`
   * (Infinity drops the class). Must not allocate.
   */
  decode(output: Float32Array, dims: readonly number[], inputWidth: number, inputHeight: number, thresholds: Float32Array, out: Candidates): void;
}
