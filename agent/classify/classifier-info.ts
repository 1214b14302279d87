import { DetectorError } from "../detect/detector-error.js";
import { parseNamesDict, type TensorMetadata } from "../detect/model-info.js";

/** What the classify stage knows about a loaded crop classifier: how to feed it and how to read it. */
export interface ClassifierInfo {
  /** one per output class, from the model's metadata (`labels` JSON array, or Ultralytics' `names`) */
  labels: string[];
  inputName: string;
  outputName: string;
  /** crops are stretched to size × size, as GTSRB-style classifiers are trained */
  size: number;
  layout: "NHWC" | "NCHW";
  dtype: "uint8" | "float32";
  color: "RGB" | "BGR";
  /** float inputs: pixel / 255 (scale 1/255) or raw 0–255 (scale 1), then (x − mean) / std per channel */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** padding the model was trained with, as a fraction of the box's width/height on each side */
  cropPadding: number | undefined;
  /** true when the graph ends in a softmax (our contract); logits get one in the worker */
  probabilities: boolean;
}

export interface ClassifierSources {
  file: string;
  metadata: Record<string, string>;
  input: TensorMetadata;
  output: TensorMetadata;
}

const unsupported = (message: string) => new DetectorError("EVA_MODEL_UNSUPPORTED", message);

/**
 * Reads a classifier's contract from its metadata and tensor shapes: input [N,S,S,3] uint8 (ours) or
 * [N,3,S,S] float32 (torchvision-style), output [N, classes]. A model marked `kind` other than classifier
 * — a detector put under a camera's `classify` by mistake — is refused with a clear message.
 */
export function resolveClassifierInfo(src: ClassifierSources): ClassifierInfo {
  const { file, metadata: meta, input, output } = src;
  if (meta.kind !== undefined && meta.kind !== "classifier") {
    throw unsupported(`${file}: metadata kind '${meta.kind}'; a classifier (kind 'classifier') expected`);
  }
  if (input.type !== "uint8" && input.type !== "float32") throw unsupported(`${file}: input '${input.name}' is ${input.type}; uint8 or float32 expected`);
  if (input.shape.length !== 4) throw unsupported(`${file}: input '${input.name}' has shape [${input.shape.join(", ")}]; [N,S,S,3] or [N,3,S,S] expected`);
  const declared = meta.input_layout?.toUpperCase();
  const layout = declared === "NHWC" || declared === "NCHW" ? declared : input.shape[3] === 3 ? "NHWC" : "NCHW";
  const [h, w] = layout === "NHWC" ? [input.shape[1], input.shape[2]] : [input.shape[2], input.shape[3]];
  const imgsz = parseNumbers(meta.imgsz);
  const height = typeof h === "number" && h > 0 ? h : imgsz[0];
  const width = typeof w === "number" && w > 0 ? w : (imgsz[1] ?? imgsz[0]);
  if (!height || !width) throw unsupported(`${file}: input '${input.name}' has no fixed size and no imgsz metadata`);
  if (height !== width) throw unsupported(`${file}: input ${width}×${height}; square crops expected`);
  if (output.shape.length !== 2) throw unsupported(`${file}: output '${output.name}' has shape [${output.shape.join(", ")}]; [N, classes] expected`);
  const classes = typeof output.shape[1] === "number" && output.shape[1] > 0 ? output.shape[1] : undefined;
  const labels = parseLabels(meta);
  if (!labels) throw unsupported(`${file}: no labels in its metadata (a JSON array 'labels', or 'names'); the classify stage names classes from them`);
  if (classes !== undefined && labels.length !== classes) {
    throw unsupported(`${file}: metadata names ${labels.length} labels, the output has ${classes} classes`);
  }
  const padding = meta.crop_padding !== undefined ? Number(meta.crop_padding) : undefined;
  if (padding !== undefined && !(padding >= 0 && padding <= 1)) throw unsupported(`${file}: crop_padding '${meta.crop_padding}' is not a fraction 0–1`);
  const float = input.type === "float32";
  const mean = triple(meta.mean, float ? [0.485, 0.456, 0.406] : [0, 0, 0]);
  const std = triple(meta.std, float ? [0.229, 0.224, 0.225] : [1, 1, 1]);
  return {
    labels,
    inputName: input.name,
    outputName: output.name,
    size: width,
    layout,
    dtype: input.type,
    color: meta.color?.toUpperCase() === "BGR" ? "BGR" : "RGB",
    // torchvision's ImageNet classifiers take pixel/255 normalised by ImageNet mean/std, the common case for
    // float models without metadata; `scale: 1` in metadata selects raw 0–255.
    scale: meta.scale !== undefined && Number.isFinite(Number(meta.scale)) ? Number(meta.scale) : 1 / 255,
    mean,
    std,
    cropPadding: padding,
    probabilities: meta.output !== "logits",
  };
}

function parseNumbers(text: string | undefined): number[] {
  return text?.match(/\d+(\.\d+)?/g)?.map(Number) ?? [];
}

function triple(text: string | undefined, fallback: [number, number, number]): [number, number, number] {
  const n = text?.match(/-?\d+(\.\d+)?/g)?.map(Number) ?? [];
  return n.length === 3 ? [n[0], n[1], n[2]] : fallback;
}

function parseLabels(meta: Record<string, string>): string[] | undefined {
  if (meta.labels !== undefined) {
    try {
      const v: unknown = JSON.parse(meta.labels);
      if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string")) return v;
    } catch {
      // fall through to names
    }
  }
  if (meta.names !== undefined) {
    const labels = parseNamesDict(meta.names);
    if (labels.length) return labels;
  }
  return undefined;
}
