import { readFile } from "node:fs/promises";
import path from "node:path";
import type { ModelConfig } from "../config/schema.js";
import { DetectorError } from "./detector-error.js";
import { resolveModelInfo, type ModelInfo, type TensorMetadata } from "./model-info.js";
import { NotOnnxError, readOnnxModel, type OnnxModelDescription, type OnnxValueInfo } from "./onnx-model-proto.js";

// A model file read on the main thread, without onnxruntime: its bytes for a worker's session, and the input
// facts cameras need (detect size, the picture ffmpeg scales for the model) before any session exists.

export async function readModelBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : (err as Error).message;
    throw new DetectorError("EVA_MODEL_NOT_FOUND", `${file}: ${why}`);
  }
}

export async function readLabelsFile(file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    throw new DetectorError("EVA_LABELS_INVALID", `${file}: cannot read labels file (${(err as Error).message})`);
  }
}

/** A model file's bytes and its declared facts; not ONNX is an EVA_MODEL_INVALID error naming the file. */
export async function readModel(file: string): Promise<{ bytes: Uint8Array; description: OnnxModelDescription }> {
  const bytes = await readModelBytes(file);
  try {
    return { bytes, description: readOnnxModel(bytes) };
  } catch (err) {
    if (err instanceof NotOnnxError) throw new DetectorError("EVA_MODEL_INVALID", `${path.basename(file)}: not an ONNX model (${err.message})`);
    throw err;
  }
}

/** onnxruntime's names for the TensorProto element types a detector can have. */
const ELEMENT_TYPES: Record<number, string> = { 1: "float32", 2: "uint8", 3: "int8", 6: "int32", 7: "int64", 10: "float16", 11: "float64" };

function tensorMetadata(v: OnnxValueInfo): TensorMetadata {
  return { name: v.name, type: ELEMENT_TYPES[v.elemType] ?? `type ${v.elemType}`, shape: v.dims.map((d) => (d < 0 ? "?" : d)) };
}

/**
 * A detector's ModelInfo from its file alone, as the worker settles it once its session is open (the same
 * resolveModelInfo, on the declared tensors): cameras start on it while the session loads, which on a Jetson
 * building a TensorRT engine takes minutes. Throws the DetectorError a worker would.
 */
export async function describeModelFile(model: ModelConfig): Promise<ModelInfo> {
  const base = path.basename(model.path);
  const { description } = await readModel(model.path);
  const [input] = description.inputs;
  const [output] = description.outputs;
  if (!input || !output)
    throw new DetectorError("EVA_MODEL_UNSUPPORTED", `${base}: no input or no output declared; one image input and a detection output expected`);
  const labelsText = model.labels ? await readLabelsFile(model.labels) : undefined;
  return resolveModelInfo({
    file: base,
    config: model,
    metadata: description.metadata,
    input: tensorMetadata(input),
    output: tensorMetadata(output),
    labelsText,
  }).info;
}
