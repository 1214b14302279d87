// Which options each onnxruntime execution provider gets, from detector.tensorrt / detector.cuda.
//
// onnxruntime-node forwards an execution provider given as an object straight to its native binding. The npm
// binding reads only `deviceId` for cuda and tensorrt and drops the rest (js/node/src/session_options_helper.cc;
// microsoft/onnxruntime#26854); the patched binding of scripts/jetson/ hands every other key, as a string, to
// UpdateTensorRTProviderOptions / UpdateCUDAProviderOptions — the same keys Python's provider_options take.
// So the keys below are onnxruntime's own names, and an unpatched binding simply runs without them.
import type { CudaConfig, TensorrtConfig } from "../config/gpu-schema.js";
import type { Provider } from "../config/schema.js";
import type { OnnxQdqSummary } from "./onnx-model-proto.js";

export interface GpuOptions {
  tensorrt: TensorrtConfig;
  cuda: CudaConfig;
}

/** Where the TensorRT provider keeps this model's engine and the shared timing cache (see engine-cache.ts). */
export interface TensorrtCachePaths {
  engineDir: string;
  timingDir: string;
}

export type ExecutionProviderEntry = "cpu" | ({ name: "tensorrt" | "cuda"; deviceId: number } & Record<string, string | number>);

const flag = (on: boolean) => (on ? "1" : "0");

/** TensorRT options that change the engine TensorRT builds: part of the engine-cache key. */
export function tensorrtEngineOptions(t: TensorrtConfig): Record<string, string> {
  return {
    trt_fp16_enable: flag(t.fp16),
    trt_int8_enable: flag(t.int8),
    trt_max_workspace_size: String(t.workspace_mb * 1024 * 1024),
    trt_builder_optimization_level: String(t.builder_optimization_level),
  };
}

/** The entry for `InferenceSession.create`'s executionProviders: one provider, with its options. */
export function executionProvider(provider: Provider, gpu: GpuOptions | undefined, cache?: TensorrtCachePaths): ExecutionProviderEntry {
  if (provider === "cpu" || !gpu) return provider === "cpu" ? "cpu" : { name: provider, deviceId: 0 };
  const deviceId = gpu.cuda.device_id;
  if (provider === "cuda") {
    return {
      name: "cuda",
      deviceId,
      cudnn_conv_algo_search: gpu.cuda.cudnn_conv_algo_search,
      ...(gpu.cuda.gpu_mem_limit_mb !== undefined ? { gpu_mem_limit: String(gpu.cuda.gpu_mem_limit_mb * 1024 * 1024) } : {}),
    };
  }
  const t = gpu.tensorrt;
  return {
    name: "tensorrt",
    deviceId,
    ...tensorrtEngineOptions(t),
    ...(cache ? { trt_engine_cache_enable: "1", trt_engine_cache_path: cache.engineDir } : { trt_engine_cache_enable: "0" }),
    ...(cache && t.timing_cache ? { trt_timing_cache_enable: "1", trt_timing_cache_path: cache.timingDir } : { trt_timing_cache_enable: "0" }),
  };
}

/**
 * What a session is created with when `from` is the provider being tried: it and every provider after it in
 * the configured order that this onnxruntime build has. onnxruntime gives each node to the first provider in
 * the list that takes it, so what TensorRT rejects runs on CUDA, and only what neither takes runs on the CPU.
 * The cache folders go to the TensorRT entry alone.
 */
export function sessionProviders(
  providers: readonly Provider[],
  from: Provider,
  gpu: GpuOptions | undefined,
  cache?: TensorrtCachePaths,
  built?: ReadonlySet<string>,
): ExecutionProviderEntry[] {
  const start = providers.indexOf(from);
  const rest = (start < 0 ? [from] : providers.slice(start)).filter((p, i) => i === 0 || p === "cpu" || !built || built.has(p));
  return rest.map((p) => executionProvider(p, gpu, p === "tensorrt" ? cache : undefined));
}

/** TensorRT builds Q/DQ as int8 only from signed int8 zero points that are all 0. */
export function qdqTensorrtReady(qdq: OnnxQdqSummary): boolean {
  return qdq.nodes > 0 && qdq.nonZeroZeroPoints === 0 && Object.keys(qdq.zeroPointTypes).every((t) => t === "int8");
}

/**
 * The GPU options for this model: a Q/DQ model gets trt_int8_enable (without it TensorRT does not read the
 * Q/DQ pairs as int8), and the engine-cache key follows since it is made from these options.
 */
export function gpuOptionsForModel(gpu: GpuOptions, qdq: OnnxQdqSummary): GpuOptions {
  return qdq.nodes > 0 && !gpu.tensorrt.int8 ? { ...gpu, tensorrt: { ...gpu.tensorrt, int8: true } } : gpu;
}

/**
 * Why TensorRT will not run this Q/DQ model as int8, or null: unsigned or non-zero zero points (as ONNX
 * Runtime's CPU provider prefers) and int32 bias DQs are outside what TensorRT's ONNX parser builds, so those
 * nodes fall to CUDA or the CPU and the engine is cut into pieces.
 */
export function tensorrtQdqNote(file: string, qdq: OnnxQdqSummary): string | null {
  if (qdq.nodes === 0 || qdqTensorrtReady(qdq)) return null;
  const types = Object.entries(qdq.zeroPointTypes)
    .map(([t, n]) => `${n} ${t}`)
    .join(", ");
  return (
    `${file}: its Q/DQ nodes are not TensorRT's int8 form (zero points ${types}; ${qdq.nonZeroZeroPoints} not 0): TensorRT leaves them ` +
    `to CUDA and the CPU. Give TensorRT a model quantized for it (signed int8, zero point 0; scripts/training/quantize.py --target tensorrt) or the float model`
  );
}

/**
 * The one line a CPU-only onnxruntime build gets about GPU options it cannot use; null when the session runs on
 * a GPU provider or none was asked for.
 */
export function ignoredGpuOptionsNote(requested: readonly Provider[], running: string): string | null {
  if (running !== "cpu") return null;
  const gpu = requested.filter((p) => p !== "cpu");
  if (!gpu.length) return null;
  return `detector.tensorrt and detector.cuda options ignored: ${gpu.join(" and ")} unavailable in this onnxruntime build, running on cpu`;
}
