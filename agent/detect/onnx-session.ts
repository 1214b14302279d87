import ort from "onnxruntime-node";
import type { Provider } from "../config/schema.js";
import { DetectorError } from "./detector-error.js";
import type { PlainError } from "./detector-protocol.js";
import { executionProvider, type GpuOptions } from "./providers.js";

// What the detector's and the classifier's workers load models with: a clear code for a missing file, errors
// made plain for postMessage, and (for classifiers) providers tried one by one because a provider whose library
// is missing makes create() throw instead of falling back.

/** An error as plain data for postMessage: a DetectorError keeps its code, anything else gets the fallback. */
export function plainError(err: unknown, fallback: PlainError["code"]): PlainError {
  if (err instanceof DetectorError) return err.toJSON();
  return { code: fallback, message: err instanceof Error ? err.message : String(err) };
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
