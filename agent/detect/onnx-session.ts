import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import type { Provider } from "../config/schema.js";
import { DetectorError } from "./detector-error.js";
import type { EngineReport, PlainError } from "./detector-protocol.js";
import type { OnnxQdqSummary } from "./onnx-model-proto.js";
import { gpuOptionsForModel, sessionProviders, tensorrtQdqNote, type GpuOptions, type TensorrtCachePaths } from "./providers.js";
import { openTensorrtSession } from "./tensorrt-session.js";

// What the detector's and the classifier's workers load models with: a clear code for a missing file, errors
// made plain for postMessage, and providers tried one by one because a provider whose library is missing makes
// create() throw instead of falling back.

/** An error as plain data for postMessage: a DetectorError keeps its code, anything else gets the fallback. */
export function plainError(err: unknown, fallback: PlainError["code"]): PlainError {
  if (err instanceof DetectorError) return err.toJSON();
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
}

export interface SessionRequest {
  providers: readonly Provider[];
  threads: number;
  /** detector.tensorrt and detector.cuda; without them GPU providers run with onnxruntime's defaults */
  gpu?: GpuOptions;
  /** the model's Q/DQ nodes (readOnnxModel): a Q/DQ model gets TensorRT's int8 */
  qdq?: OnnxQdqSummary;
  /**
   * profile a GPU session's first run for the nodes each provider takes; the caller must then call
   * `placement.read` after that run, which also ends the profiling
   */
  placement?: boolean;
  /** build TensorRT engines through the engine cache (the detector; a classifier's engine is small and quick to build) */
  engineCache?: {
    onnxruntimeVersion: string;
    building(provider: string, key: string, why: string): void;
  };
}

export interface OpenedSession {
  session: ort.InferenceSession;
  provider: Provider;
  /** providers tried before the one that runs, and why each failed */
  skipped: { provider: string; error: string }[];
  /** what the log should say about this model on this provider */
  warnings: string[];
  engine?: EngineReport;
  /** call once after the warm-up inference (see TensorrtSession.finish); returns a warning or null */
  finish(ok: boolean): string | null;
  /** on a GPU provider, when asked for: reads which provider ran how many nodes, from the profile of the first run */
  placement: PlacementProfile | null;
}

/**
 * A provider this build of onnxruntime does not have is skipped without a try, so a CPU-only box never touches
 * the TensorRT engine cache; the others are tried alone, in the configured order, each with the providers after
 * it as fallbacks for the nodes it does not take.
 */
export async function openSession(bytes: Uint8Array, base: string, req: SessionRequest): Promise<OpenedSession> {
  const skipped: { provider: string; error: string }[] = [];
  const built = new Set(ort.listSupportedBackends().map((b) => b.name));
  const gpu = req.gpu && req.qdq ? gpuOptionsForModel(req.gpu, req.qdq) : req.gpu;
  for (const provider of req.providers) {
    if (provider !== "cpu" && !built.has(provider)) {
      skipped.push({ provider, error: "not in this onnxruntime build" });
      continue;
    }
    const placement = provider === "cpu" || !req.placement ? null : new PlacementProfile();
    const options = (cache?: TensorrtCachePaths): ort.InferenceSession.SessionOptions => ({
      executionProviders: sessionProviders(req.providers, provider, gpu, cache, built) as ort.InferenceSession.ExecutionProviderConfig[],
      intraOpNumThreads: req.threads,
      interOpNumThreads: 1,
      ...placement?.sessionOptions(),
    });
    const warnings = provider === "tensorrt" && req.qdq ? [tensorrtQdqNote(base, req.qdq)].filter((w): w is string => w !== null) : [];
    try {
      if (provider === "tensorrt" && gpu && req.engineCache) {
        const cache = req.engineCache;
        const trt = await openTensorrtSession({
          model: bytes,
          gpu,
          onnxruntimeVersion: cache.onnxruntimeVersion,
          create: (paths) => ort.InferenceSession.create(bytes, options(paths)),
          building: (key, why) => cache.building(provider, key, why),
          waiting: (key) => cache.building(provider, key, "another session of this model is building the engine: waiting for it"),
        });
        return { session: trt.session, provider, skipped, warnings, engine: trt.engine, finish: trt.finish, placement };
      }
      const session = await ort.InferenceSession.create(bytes, options());
      return { session, provider, skipped, warnings, finish: () => null, placement };
    } catch (err) {
      placement?.discard();
      const message = (err as Error).message.split("\n")[0];
      if (provider === "cpu") throw new DetectorError("EVA_MODEL_INVALID", `${base}: onnxruntime cannot load it (${message})`);
      skipped.push({ provider, error: message });
    }
  }
  throw new DetectorError(
    "EVA_PROVIDER_UNAVAILABLE",
    `${base}: no execution provider could run it: ${skipped.map((s) => `${s.provider}: ${s.error}`).join("; ")}`,
  );
}

/** The crop classifier's session: the detector's GPU options, without its engine cache. */
export async function createSession(bytes: Uint8Array, base: string, providers: readonly Provider[], threads: number, gpu?: GpuOptions) {
  const { session, provider, skipped } = await openSession(bytes, base, { providers, threads, gpu });
  return { session, provider, skipped };
}

/** Nodes per execution provider in one run, with their op types: a TensorRT engine counts once per subgraph. */
export type NodePlacement = Record<string, { nodes: number; ops: string[] }>;

/**
 * onnxruntime-node has no API for where nodes went, and its verbose log goes to the process's stderr; its
 * profiler records each node's provider, so the first run is profiled, then profiling ends and the file goes.
 */
export class PlacementProfile {
  private readonly dir = mkdtempSync(path.join(tmpdir(), "eva-placement-"));

  sessionOptions(): Pick<ort.InferenceSession.SessionOptions, "enableProfiling" | "profileFilePrefix"> {
    return { enableProfiling: true, profileFilePrefix: path.join(this.dir, "run") };
  }

  /** Ends profiling (call after one run) and reads the placement; null when the profile is missing or unreadable. */
  read(session: ort.InferenceSession): NodePlacement | null {
    try {
      session.endProfiling();
      const file = readdirSync(this.dir).find((f) => f.endsWith(".json"));
      return file ? nodePlacement(JSON.parse(readFileSync(path.join(this.dir, file), "utf8"))) : null;
    } catch {
      return null;
    } finally {
      this.discard();
    }
  }

  discard(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The placement in an onnxruntime profile: its "Node" events named `<node>_kernel_time`, by args.provider. */
export function nodePlacement(events: unknown): NodePlacement {
  const placement: NodePlacement = {};
  if (!Array.isArray(events)) return placement;
  for (const e of events as { cat?: string; name?: string; args?: { provider?: string; op_name?: string } }[]) {
    if (e.cat !== "Node" || !e.name?.endsWith("_kernel_time") || !e.args?.provider) continue;
    const p = (placement[e.args.provider] ??= { nodes: 0, ops: [] });
    p.nodes++;
    if (e.args.op_name && !p.ops.includes(e.args.op_name)) p.ops.push(e.args.op_name);
  }
  return placement;
}
