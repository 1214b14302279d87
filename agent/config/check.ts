import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { readOnnxModel } from "../detect/onnx-model-proto.js";
import { cameraShapes, shapesOutsideFrame } from "./camera-shapes.js";
import { ConfigError, locate, parseConfig, readConfigText, type ConfigProblem, type LoadedConfig } from "./load.js";
import type { Config } from "./schema.js";

// What the schema cannot know: files the config points at and geometry against the frame size. Used by
// `eva check-config` and by every live reload, so an edit that check-config passes is one reload applies.

export interface CheckResult {
  /** set when there is no problem */
  loaded?: LoadedConfig;
  problems: ConfigProblem[];
}

/** Loads, validates and checks a config file; every problem comes back as a value, nothing throws for the config. */
export function checkConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): CheckResult {
  const text = readConfigText(file);
  if (typeof text !== "string") return { problems: [text] };
  return checkConfigText(text, file, env);
}

export function checkConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): CheckResult {
  let config: Config;
  try {
    config = parseConfig(text, file, env);
  } catch (err) {
    if (err instanceof ConfigError) return { problems: err.problems };
    throw err;
  }
  const loaded: LoadedConfig = { config, file: path.resolve(file), text };
  const problems = semanticProblems(loaded, file);
  return problems.length ? { problems } : { loaded, problems };
}

interface ModelFacts {
  /** input width × height when the model declares fixed ones */
  inputSize?: { width: number; height: number };
}

/** Problems in a schema-valid config that only the files and the frame size reveal; `file` as the user named it. */
export function semanticProblems(loaded: LoadedConfig, file: string = loaded.file): ConfigProblem[] {
  const { config, text } = loaded;
  const problems: ConfigProblem[] = [];
  const add = (keys: (string | number)[], message: string) => problems.push({ file, ...locate(text, keys), path: keys.join("."), message });

  const models = new Map<string, ModelFacts>();
  for (const [name, m] of Object.entries(config.models)) {
    const facts = checkModelFile(m.path);
    if (typeof facts === "string") add(["models", name, "path"], facts);
    else models.set(name, facts);
    if (m.labels) {
      const why = checkReadableFile(m.labels);
      if (why) add(["models", name, "labels"], `labels ${why}`);
    }
  }

  for (const [name, cam] of Object.entries(config.cameras)) {
    const size = cam.detect.width && cam.detect.height
      ? { width: cam.detect.width, height: cam.detect.height }
      : models.get(cam.detect.model)?.inputSize;
    if (!size) continue;
    const width = cam.detect.width ?? size.width;
    const height = cam.detect.height ?? size.height;
    for (const p of cameraGeometryProblems(cam, width, height)) add(["cameras", name, ...p.keys], p.message);
  }
  return problems;
}

/**
 * Geometry checks of one camera against its detect frame. Zones, lines and masks become schema keys with the
 * analytics work (issue 4), whose schema refinements reject self-intersecting or degenerate polygons; what
 * needs the frame size (a point outside the frame) is checked here.
 */
export function cameraGeometryProblems(camera: unknown, width: number, height: number) {
  return shapesOutsideFrame(cameraShapes(camera), width, height);
}

function checkReadableFile(file: string): string | null {
  try {
    const st = statSync(file);
    return st.isFile() ? null : `${file} is not a file`;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === "ENOENT" ? `file not found: ${file}` : `${file}: ${e.message}`;
  }
}

// Reloads check the same model files again and again: a file unchanged in size and mtime is not re-read.
const modelCache = new Map<string, { key: string; facts: ModelFacts | string }>();
const MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** Facts about an ONNX file, or why it is not one eva can load. */
export function checkModelFile(file: string): ModelFacts | string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === "ENOENT" ? `model file not found: ${file}` : e.code === "EISDIR" ? `${file} is a folder, not a model file` : `${file}: ${e.message}`;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return `${file} is not a file`;
    const key = `${st.size}:${st.mtimeMs}`;
    const cached = modelCache.get(file);
    if (cached?.key === key) return cached.facts;
    let facts: ModelFacts | string;
    if (st.size === 0) facts = `${file} is empty, not an ONNX model`;
    else if (st.size > MAX_MODEL_BYTES) facts = `${file} is larger than 2 GiB (ONNX's protobuf limit); not a model eva can load`;
    else {
      const bytes = Buffer.allocUnsafe(st.size);
      let off = 0;
      while (off < st.size) {
        const n = readSync(fd, bytes, off, st.size - off, off);
        if (n === 0) break;
        off += n;
      }
      facts = describeModel(bytes.subarray(0, off), file);
    }
    modelCache.set(file, { key, facts });
    return facts;
  } finally {
    closeSync(fd);
  }
}

function describeModel(bytes: Uint8Array, file: string): ModelFacts | string {
  try {
    const model = readOnnxModel(bytes);
    const dims = model.inputs[0]?.dims ?? [];
    if (model.inputs.length === 0) return `${file}: the ONNX model declares no input`;
    // NCHW [1,3,H,W] or NHWC [1,H,W,3]; a symbolic dim (-1) leaves the size to the camera's detect keys.
    const [h, w] = dims.length === 4 ? (dims[1] === 3 ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!]) : [-1, -1];
    return h > 0 && w > 0 ? { inputSize: { width: w, height: h } } : {};
  } catch (err) {
    return `${file} is not an ONNX model (${(err as Error).message})`;
  }
}
