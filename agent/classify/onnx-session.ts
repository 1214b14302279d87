import { readFile } from "node:fs/promises";
import ort from "onnxruntime-node";
import type { Provider } from "../config/schema.js";
import { DetectorError } from "../detect/detector-error.js";
import { executionProvider, type GpuOptions } from "../detect/providers.js";

// The detector worker's loading rules, for the classifier's worker: a clear code for a missing file, and
// providers tried one by one because a provider whose library is missing makes create() throw instead of
// falling back.

export async function readModelBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a folder" : (err as Error).message;
    throw new DetectorError("EVA_MODEL_NOT_FOUND", `${file}: ${why}`);
  }
}

export async function createSession(bytes: Uint8Array, base: string, providers: readonly Provider[], threads: number, gpu?: GpuOptions) {
  const skipped: { provider: string; error: string }[] = [];
  for (const provider of providers) {
    try {
      // The detector's GPU options (device, CUDA memory, TensorRT precision), without its engine cache: a crop
      // classifier's engine is small and quick to build.
      const entry = executionProvider(provider, gpu) as ort.InferenceSession.ExecutionProviderConfig;
      const session = await ort.InferenceSession.create(bytes, { executionProviders: [entry], intraOpNumThreads: threads, interOpNumThreads: 1 });
      return { session, provider, skipped };
    } catch (err) {
      const message = (err as Error).message.split("\n")[0];
      if (provider === "cpu") throw new DetectorError("EVA_MODEL_INVALID", `${base}: onnxruntime cannot load it (${message})`);
      skipped.push({ provider, error: message });
    }
  }
  throw new DetectorError("EVA_PROVIDER_UNAVAILABLE", `${base}: no execution provider could run it: ${skipped.map((s) => `${s.provider}: ${s.error}`).join("; ")}`);
}
