import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { parseLabelsFile, parseNamesDict } from "../detect/model-info.js";
import { readOnnxModel } from "../detect/onnx-model-proto.js";
import { parsedCameraShapes, shapesOutsideFrame } from "../config/analytics-schema.js";
import { regularFileProblem } from "../config/files.js";
import { readTrackFile } from "../geo/track-file.js";
import { locate, parseConfigLayers, type ConfigProblem, type LoadedConfig } from "../config/load.js";

// What the schema cannot know: files the config points at, geometry against the frame size and labels against
// the model. `eva check-config` and every live reload run this same check, so an edit that check-config
// passes is one reload applies. Every layer runs on whatever the one before could read, so one run reports
// every problem. Files are stat'ed first and read by the thread pool: a FIFO must not freeze the agent.

export interface CheckResult {
  /** set when there is no problem */
  loaded?: LoadedConfig;
  problems: ConfigProblem[];
}

export interface CheckOptions {
  /**
   * Also check that camera sources on this machine (files, /dev/video devices) exist. `eva check-config` does;
   * a live reload does not, so an unplugged camera or an unmounted drive never blocks an unrelated edit (the
   * camera itself reports the missing source as it runs).
   */
  sources?: boolean;
}

/** Loads, validates and checks a config file; every problem comes back as a value, nothing throws for the config. */
export async function checkConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, o: CheckOptions = { sources: true }): Promise<CheckResult> {
  const why = await regularFileProblem(file, "config file");
  if (why) return { problems: [{ file, line: 1, col: 1, path: "", message: why.includes("not found") ? "file not found" : why }] };
  return checkConfigText(await readFile(file, "utf8"), file, env, o);
}

export async function checkConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env, o: CheckOptions = {}): Promise<CheckResult> {
  const layers = parseConfigLayers(text, file, env);
  const problems = [...layers.problems];
  if (layers.raw !== undefined) {
    for (const p of await semanticProblemsOf(layers.raw, text, file, o)) {
      if (!problems.some((q) => q.path === p.path && q.message === p.message)) problems.push(p);
    }
  }
  if (problems.length || !layers.config) return { problems };
  return { loaded: { config: layers.config, file: path.resolve(file), text }, problems };
}

/** Problems in a schema-valid config that only the files and the frame size reveal; `file` as the user named it. */
export function semanticProblems(loaded: LoadedConfig, file: string = loaded.file): Promise<ConfigProblem[]> {
  return semanticProblemsOf(loaded.config, loaded.text, file);
}

export interface ModelFacts {
  /** input width × height when the model declares fixed ones */
  inputSize?: { width: number; height: number };
  /** the labels the model reports (labels file, else its metadata); absent when it names none */
  labels?: string[];
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | null => (v && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : null);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : []);

async function semanticProblemsOf(config: unknown, text: string, file: string, o: CheckOptions = {}): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const add = (keys: (string | number)[], message: string) => problems.push({ file, ...locate(text, keys), path: keys.join("."), message });
  const root = obj(config) ?? {};

  const models = new Map<string, ModelFacts>();
  await Promise.all(
    Object.entries(obj(root.models) ?? {}).map(async ([name, m]) => {
      const model = obj(m);
      if (typeof model?.path !== "string") return;
      const facts = await modelFacts(model.path);
      if (typeof facts === "string") return add(["models", name, "path"], facts);
      if (typeof model.labels === "string") {
        const why = await regularFileProblem(model.labels, "labels file");
        if (why) return add(["models", name, "labels"], why);
        facts.labels = parseLabelsFile(await readFile(model.labels, "utf8"));
      }
      models.set(name, facts);
    }),
  );

  const tls = obj(obj(root.mqtt)?.tls);
  for (const key of ["ca", "cert", "key"]) {
    if (typeof tls?.[key] !== "string") continue;
    const why = await regularFileProblem(tls[key] as string, "TLS file");
    if (why) add(["mqtt", "tls", key], why);
  }
  const webhookCa = obj(obj(obj(root.sinks)?.webhook)?.tls)?.ca;
  if (typeof webhookCa === "string") {
    const why = await regularFileProblem(webhookCa, "TLS file");
    if (why) add(["sinks", "webhook", "tls", "ca"], why);
  }

  // A track file that cannot be read leaves the camera's sightings unlocated: say so before the agent runs.
  await Promise.all(
    Object.entries(obj(root.cameras) ?? {}).map(async ([name, c]) => {
      const track = obj(obj(c)?.gps)?.track;
      if (typeof track !== "string") return;
      const why = await regularFileProblem(track, "track file");
      if (why) return add(["cameras", name, "gps", "track"], why);
      try {
        await readTrackFile(track);
      } catch (err) {
        add(["cameras", name, "gps", "track"], (err as Error).message);
      }
    }),
  );
  if (o.sources) {
    for (const [name, c] of Object.entries(obj(root.cameras) ?? {})) {
      const cam = obj(c);
      if (!cam || cam.enabled === false) continue;
      for (const key of ["source", "detect_source"]) {
        const why = typeof cam[key] === "string" ? await sourceProblem(cam[key] as string) : null;
        if (why) add(["cameras", name, key], why);
      }
    }
  }

  for (const [name, c] of Object.entries(obj(root.cameras) ?? {})) {
    const cam = obj(c);
    const detect = obj(cam?.detect);
    if (!cam || !detect) continue;
    const facts = typeof detect.model === "string" ? models.get(detect.model) : undefined;
    // Zones, lines and signs see the labels after the camera's classify rules: the classifiers' labels count there.
    const classified = (Array.isArray(cam.classify) ? cam.classify : []).flatMap((r) => models.get(String(obj(r)?.model))?.labels ?? []);
    if (facts?.labels?.length) for (const p of unknownLabels(cam, facts.labels, String(detect.model), classified)) add(["cameras", name, ...p.keys], p.message);
    const width = typeof detect.width === "number" ? detect.width : facts?.inputSize?.width;
    const height = typeof detect.height === "number" ? detect.height : facts?.inputSize?.height;
    if (!width || !height) continue;
    for (const p of cameraGeometryProblems(cam, width, height)) add(["cameras", name, ...p.keys], p.message);
  }
  return problems;
}

/** Why a camera source on this machine cannot be read: a file that is not there, a /dev/video that is not a device. */
async function sourceProblem(source: string): Promise<string | null> {
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) return null; // a URL: reached over the network at run time
  if (source.startsWith("/dev/")) {
    try {
      if (!(await stat(source)).isCharacterDevice()) return `${source} is not a video device`;
      return null;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return e.code === "ENOENT" ? `video device not found: ${source} (is the camera plugged in? ls /dev/video*)` : `${source}: ${e.message}`;
    }
  }
  return regularFileProblem(source, "camera file");
}

/**
 * Labels a camera names that its model does not have: such a camera silently never makes an event for them
 * (`labels: [persn]`). Checked in detect.labels, min_score's keys, zones' and lines' labels and the sign keys.
 */
function unknownLabels(
  cam: Obj,
  known: readonly string[],
  model: string,
  classified: readonly string[] = [],
): Array<{ keys: (string | number)[]; message: string }> {
  const out: Array<{ keys: (string | number)[]; message: string }> = [];
  const checkIn = (labels: readonly string[]) => {
    const has = new Set(labels);
    return (keys: (string | number)[], label: string) => {
      if (has.has(label)) return;
      const near = labels.filter((k) => k.toLowerCase().startsWith(label.slice(0, 2).toLowerCase())).slice(0, 5);
      out.push({ keys, message: `model '${model}' has no label '${label}'${near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(", ")}?` : ""}` });
    };
  };
  // detect keys filter the detector's own labels; the rest see them after the camera's classify rules
  const check = checkIn(known);
  const checkAfter = checkIn([...new Set([...known, ...classified])]);
  const detect = obj(cam.detect)!;
  strings(detect.labels).forEach((l, i) => check(["detect", "labels", i], l));
  for (const l of Object.keys(obj(detect.min_score) ?? {})) if (l !== "default") check(["detect", "min_score", l], l);
  for (const kind of ["zones", "lines"]) {
    for (const [n, z] of Object.entries(obj(cam[kind]) ?? {})) strings(obj(z)?.labels).forEach((l, i) => checkAfter([kind, n, "labels", i], l));
  }
  const signs = obj(cam.signs);
  strings(signs?.labels).forEach((l, i) => checkAfter(["signs", "labels", i], l));
  if (Array.isArray(signs?.watch))
    signs.watch.forEach((w, i) => typeof obj(w)?.label === "string" && checkAfter(["signs", "watch", i, "label"], obj(w)!.label as string));
  return out;
}

/**
 * Geometry checks of one camera against its detect frame: the schema rejects self-intersecting or degenerate
 * polygons; what needs the frame size (a point outside the frame) is checked here, once the shapes parse.
 */
export function cameraGeometryProblems(camera: unknown, width: number, height: number) {
  const shapes = parsedCameraShapes(camera);
  return shapes ? shapesOutsideFrame(shapes, width, height) : [];
}

// Reloads check the same model files again and again: a file unchanged in size and mtime is not re-read.
const modelCache = new Map<string, { key: string; facts: ModelFacts | string }>();
const MAX_MODEL_BYTES = 2 * 1024 ** 3;

/** Facts about an ONNX file, or why it is not one eva can load. Stat first, then read off the main thread. */
export async function modelFacts(file: string): Promise<ModelFacts | string> {
  const why = await regularFileProblem(file, "model file");
  if (why) return why;
  const st = await stat(file);
  const key = `${st.size}:${st.mtimeMs}`;
  const cached = modelCache.get(file);
  if (cached?.key === key) return structuredClone(cached.facts);
  let facts: ModelFacts | string;
  if (st.size === 0) facts = `${file} is empty, not an ONNX model`;
  else if (st.size > MAX_MODEL_BYTES) facts = `${file} is larger than 2 GiB (ONNX's protobuf limit); not a model eva can load`;
  else facts = describeModel(await readFile(file), file);
  modelCache.set(file, { key, facts });
  return structuredClone(facts);
}

/** The same facts for the CLI's one-shot uses (eva preview): a FIFO is refused by its stat, never opened. */
export const checkModelFile = modelFacts;

function describeModel(bytes: Uint8Array, file: string): ModelFacts | string {
  try {
    const model = readOnnxModel(bytes);
    const dims = model.inputs[0]?.dims ?? [];
    if (model.inputs.length === 0) return `${file}: the ONNX model declares no input`;
    // NCHW [1,3,H,W] or NHWC [1,H,W,3]; a symbolic dim (-1) leaves the size to the camera's detect keys.
    const [h, w] = dims.length === 4 ? (dims[1] === 3 ? [dims[2]!, dims[3]!] : [dims[1]!, dims[2]!]) : [-1, -1];
    const facts: ModelFacts = h > 0 && w > 0 ? { inputSize: { width: w, height: h } } : {};
    const labels = metadataLabels(model.metadata);
    if (labels) facts.labels = labels;
    return facts;
  } catch (err) {
    return `${file} is not an ONNX model (${(err as Error).message})`;
  }
}

function metadataLabels(meta: Record<string, string>): string[] | undefined {
  if (meta.labels !== undefined) {
    try {
      const v: unknown = JSON.parse(meta.labels);
      if (Array.isArray(v) && v.every((s) => typeof s === "string")) return v;
    } catch {
      // not JSON: the detector warns about it at load
    }
  }
  return meta.names !== undefined ? parseNamesDict(meta.names) : undefined;
}
