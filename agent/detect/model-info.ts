import type { ModelConfig } from "../config/schema.js";
import { DetectorError } from "./detector-error.js";
import { detectorFormat, formatFromShape, formatNames } from "../formats/registry.js";
import type { InputSpec } from "./model-input.js";

/** What the detector knows about a loaded model: how to feed it and how to read it. */
export interface ModelInfo {
  /** the output format's name (agent/formats): plain data, as the info crosses postMessage */
  format: string;
  /** one per output class; `class<N>` where neither the config nor the model names it */
  labels: string[];
  inputName: string;
  inputWidth: number;
  inputHeight: number;
  inputDtype: InputSpec["dtype"];
  inputLayout: InputSpec["layout"];
  color: InputSpec["color"];
  resize: InputSpec["resize"];
  padValue: number;
  scale: number;
  outputName: string;
  /** declared output dims, -1 where symbolic */
  outputDims: number[];
  /** the model's metadata_props */
  metadata: Record<string, string>;
}

export function inputSpecOf(info: ModelInfo): InputSpec {
  return {
    width: info.inputWidth,
    height: info.inputHeight,
    layout: info.inputLayout,
    dtype: info.inputDtype,
    color: info.color,
    resize: info.resize,
    padValue: info.padValue,
    scale: info.scale,
  };
}

/** A tensor as onnxruntime describes it (`session.inputMetadata` / `outputMetadata`). */
export interface TensorMetadata {
  name: string;
  type: string;
  shape: readonly (number | string)[];
}

export interface ModelSources {
  /** shown in errors: the model file's base name */
  file: string;
  config: ModelConfig;
  metadata: Record<string, string>;
  input: TensorMetadata;
  output: TensorMetadata;
  /** text of config.labels, when set */
  labelsText?: string;
}

/**
 * Settles format, labels and input layout from, in order of precedence: the config, the model's metadata
 * (our own export contract: format, labels, names, imgsz, input_layout, color, resize, pad_value) and the
 * tensor shapes. Returns warnings for things that work but look wrong.
 */
export function resolveModelInfo(src: ModelSources): { info: ModelInfo; warnings: string[] } {
  const warnings: string[] = [];
  const meta = src.metadata;
  const input = resolveInput(src);
  const outDims = src.output.shape.map((d) => (typeof d === "number" && d >= 0 ? d : -1));
  const format = detectorFormat(src.config.format) ?? detectorFormat(meta.format?.toLowerCase()) ?? formatFromShape(outDims, input.width, input.height);
  if (!format) {
    throw new DetectorError(
      "EVA_MODEL_UNSUPPORTED",
      `${src.file}: cannot tell the output format from shape [${outDims.join(", ")}]; set models.<name>.format (${formatNames.join(", ")})`,
    );
  }
  const defaults = format.input;
  const resize = src.config.resize ?? oneOf(meta.resize, ["letterbox", "stretch"] as const) ?? defaults.resize;
  const color = oneOf(meta.color?.toUpperCase(), ["RGB", "BGR"] as const) ?? defaults.color;
  const padValue = meta.pad_value !== undefined && Number.isFinite(Number(meta.pad_value)) ? Number(meta.pad_value) : 114;

  const classCount = Math.max(0, format.classCount(outDims));
  const labels = resolveLabels(src, classCount, warnings);
  return {
    info: {
      format: format.name,
      labels,
      inputName: input.name,
      inputWidth: input.width,
      inputHeight: input.height,
      inputDtype: input.dtype,
      inputLayout: input.layout,
      color,
      resize,
      padValue,
      scale: defaults.scale,
      outputName: src.output.name,
      outputDims: outDims,
      metadata: meta,
    },
    warnings,
  };
}

function resolveInput(src: ModelSources): Pick<InputSpec, "width" | "height" | "layout" | "dtype"> & { name: string } {
  const { input, metadata: meta, file } = src;
  if (input.type !== "float32" && input.type !== "uint8") {
    throw new DetectorError("EVA_MODEL_UNSUPPORTED", `${file}: input '${input.name}' is ${input.type}; float32 or uint8 expected`);
  }
  const shape = input.shape;
  if (shape.length !== 4) {
    throw new DetectorError("EVA_MODEL_UNSUPPORTED", `${file}: input '${input.name}' has shape [${shape.join(", ")}]; a 4-d image tensor expected`);
  }
  const declared = oneOf(meta.input_layout?.toUpperCase(), ["NCHW", "NHWC"] as const);
  const layout = declared ?? (shape[3] === 3 && shape[1] !== 3 ? "NHWC" : "NCHW");
  let [h, w] = layout === "NCHW" ? [shape[2], shape[3]] : [shape[1], shape[2]];
  if (typeof h !== "number" || typeof w !== "number" || h <= 0 || w <= 0) {
    const imgsz = parseImgsz(meta.imgsz);
    if (!imgsz) {
      throw new DetectorError("EVA_MODEL_UNSUPPORTED", `${file}: input '${input.name}' has no fixed size and no imgsz metadata`);
    }
    [h, w] = imgsz;
  }
  return { name: input.name, width: w, height: h, layout, dtype: input.type };
}

function parseImgsz(text: string | undefined): [number, number] | undefined {
  if (!text) return undefined;
  const nums = text.match(/\d+/g)?.map(Number) ?? [];
  if (nums.length === 1) return [nums[0], nums[0]];
  if (nums.length === 2) return [nums[0], nums[1]];
  return undefined;
}

function resolveLabels(src: ModelSources, classCount: number, warnings: string[]): string[] {
  let labels: string[] | undefined;
  let from = "";
  if (src.labelsText !== undefined) {
    labels = parseLabelsFile(src.labelsText);
    from = `labels file ${src.config.labels}`;
  } else if (src.metadata.labels !== undefined) {
    labels = parseLabelsJson(src.metadata.labels);
    if (labels) from = "metadata 'labels'";
    else warnings.push(`${src.file}: metadata 'labels' is not a JSON array of strings; ignored`);
  }
  if (!labels && src.metadata.names !== undefined) {
    labels = parseNamesDict(src.metadata.names);
    from = "metadata 'names'";
  }
  labels ??= [];
  if (classCount > 0 && labels.length > 0 && labels.length !== classCount) {
    warnings.push(`${src.file}: ${from} has ${labels.length} labels, the model outputs ${classCount} classes`);
  }
  const n = classCount > 0 ? classCount : labels.length;
  return Array.from({ length: n }, (_, i) => labels[i] ?? `class${i}`);
}

/** One label a line; blank lines (a trailing newline, CRLF files) carry no label. */
export function parseLabelsFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function parseLabelsJson(text: string): string[] | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v;
  } catch {
    // not JSON: reported by the caller as unusable
  }
  return undefined;
}

/** Ultralytics writes `names` as a Python dict repr: `{0: 'person', 1: "o'clock"}`. */
export function parseNamesDict(text: string): string[] {
  const labels: string[] = [];
  const entry = /(\d+)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  for (const m of text.matchAll(entry)) {
    labels[Number(m[1])] = (m[2] ?? m[3]).replace(/\\(.)/g, "$1");
  }
  return Array.from(labels, (l, i) => l ?? `class${i}`);
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[]): T | undefined {
  return allowed.find((a) => a === value);
}
