// Creating a TensorRT session around the engine cache: load a checked engine, or build one (minutes on a
// Jetson) and seal it only once a warm-up inference has run on it.
import {
  abandonEntry,
  discardEntry,
  engineCacheKey,
  gpuName,
  lockEntry,
  openEntry,
  prepareEntry,
  sealEntry,
  sha256,
  tensorrtVersion,
  type CacheEntry,
  type EngineKeyParts,
  type EntryLock,
} from "./engine-cache.js";
import type { EngineReport } from "./detector-protocol.js";
import { tensorrtEngineOptions, type GpuOptions, type TensorrtCachePaths } from "./providers.js";

export interface TensorrtSessionOptions<S> {
  model: Uint8Array;
  gpu: GpuOptions;
  onnxruntimeVersion: string;
  /** creates the session with these cache folders (undefined: no cache) */
  create(cache: TensorrtCachePaths | undefined): Promise<S>;
  /** called before a build starts, with the entry's key and why there is no usable engine */
  building(key: string, why: string): void;
  /** called when another session of this engine is building it and this one waits */
  waiting?(key: string): void;
}

export interface TensorrtSession<S> {
  session: S;
  engine: EngineReport;
  /**
   * Call once after the warm-up inference: with ok, a fresh build's manifest is written (returns a warning when
   * that was impossible); without, a fresh build is thrown away. Either way the entry's lock is released.
   */
  finish(ok: boolean): string | null;
}

export async function openTensorrtSession<S>(o: TensorrtSessionOptions<S>): Promise<TensorrtSession<S>> {
  const parts: EngineKeyParts = {
    modelSha256: sha256(o.model),
    tensorrtVersion: tensorrtVersion(),
    gpuName: gpuName(o.gpu.cuda.device_id),
    onnxruntimeVersion: o.onnxruntimeVersion,
    options: tensorrtEngineOptions(o.gpu.tensorrt),
  };
  // Without its version no key is safe, and most likely TensorRT is not installed: try it uncached, quietly.
  if (parts.tensorrtVersion === "unknown") {
    const t0 = performance.now();
    const session = await o.create(undefined);
    const why = "TensorRT version not found (libnvinfer.so.X.Y.Z; set EVA_TENSORRT_VERSION): engine not cached";
    return { session, engine: { cache: "uncached", key: "", dir: "", ms: Math.round(performance.now() - t0), why }, finish: () => null };
  }
  const root = o.gpu.tensorrt.engine_cache;
  const report = (cache: EngineReport["cache"], key: string, dir: string, t0: number, why?: string): EngineReport => ({
    cache,
    key,
    dir,
    ms: Math.round(performance.now() - t0),
    ...(why ? { why } : {}),
  });
  const uncached = async (why: string): Promise<TensorrtSession<S>> => {
    o.building(engineCacheKey(parts), why);
    const t0 = performance.now();
    const session = await o.create(undefined);
    return { session, engine: report("uncached", "", "", t0, why), finish: () => null };
  };

  let lock: EntryLock;
  try {
    lock = await lockEntry(root, engineCacheKey(parts), () => o.waiting?.(engineCacheKey(parts)));
  } catch (err) {
    return uncached(`engine cache ${root} not usable (${(err as Error).message}); every start builds`);
  }
  try {
    return await underLock(o, parts, lock, report);
  } catch (err) {
    lock.release();
    throw err;
  }
}

async function underLock<S>(
  o: TensorrtSessionOptions<S>,
  parts: EngineKeyParts,
  lock: EntryLock,
  report: (cache: EngineReport["cache"], key: string, dir: string, t0: number, why?: string) => EngineReport,
): Promise<TensorrtSession<S>> {
  const entry = openEntry(o.gpu.tensorrt.engine_cache, parts);
  const paths = { engineDir: entry.dir, timingDir: entry.timingDir };
  prepareEntry(entry);

  let why = entry.check.state === "missing" ? "no engine for this model, TensorRT version, GPU and options yet" : "";
  if (entry.check.state === "stale" || entry.check.state === "corrupt") why = `cached engine ${entry.check.state} (${entry.check.why}): rebuilt`;
  if (entry.check.state === "hit") {
    const t0 = performance.now();
    try {
      const session = await o.create(paths);
      lock.release();
      return { session, engine: report("hit", entry.key, entry.dir, t0), finish: () => null };
    } catch (err) {
      discardEntry(entry);
      why = `cached engine failed to load (${(err as Error).message.split("\n")[0]}): rebuilt`;
    }
  }
  o.building(entry.key, why);
  const t0 = performance.now();
  let session: S;
  try {
    session = await o.create(paths);
  } catch (err) {
    abandonEntry(entry);
    throw err;
  }
  let finished = false;
  return {
    session,
    engine: report("built", entry.key, entry.dir, t0, why),
    finish: (ok) => {
      if (finished) return null;
      finished = true;
      try {
        if (!ok) {
          abandonEntry(entry);
          return null;
        }
        return sealWarning(entry, parts, performance.now() - t0);
      } finally {
        lock.release();
      }
    },
  };
}

function sealWarning(entry: CacheEntry, parts: EngineKeyParts, ms: number): string | null {
  const problem = sealEntry(entry, parts, ms);
  if (problem) abandonEntry(entry);
  return problem;
}
