export type DetectorErrorCode =
  | "EVA_MODEL_NOT_FOUND"
  | "EVA_MODEL_INVALID"
  | "EVA_MODEL_UNSUPPORTED"
  | "EVA_LABELS_INVALID"
  | "EVA_PROVIDER_UNAVAILABLE"
  | "EVA_FRAME_INVALID"
  | "EVA_INFERENCE_FAILED"
  | "EVA_DETECTOR_DIED"
  | "EVA_DETECTOR_CLOSED";

/** A detector fault as a value: a stable code to branch on, a message that names the model file or the cause. */
export class DetectorError extends Error {
  override readonly name = "DetectorError";
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** The plain form that crosses the worker boundary (structured clone drops the class). */
  toJSON(): { code: DetectorErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }

  static from(value: { code: DetectorErrorCode; message: string }): DetectorError {
    return new DetectorError(value.code, value.message);
  }
}
