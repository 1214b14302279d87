import { z } from "zod";

// GPU keys: TensorRT and CUDA provider options and per-camera hardware decode. Kept in their own
// objects so schema.ts only names them. Each TensorRT key maps to one onnxruntime `trt_*` provider option
// (agent/detect/providers.ts); the npm onnxruntime-node passes none of them (microsoft/onnxruntime#26854), the
// patched binding of scripts/jetson/ does.

export const tensorrtSchema = z.strictObject({
  fp16: z.boolean().default(true).describe("build FP16 engines (trt_fp16_enable): faster than FP32 on Jetson GPUs; scores change slightly"),
  int8: z.boolean().default(false).describe("allow INT8 layers (trt_int8_enable); needs a calibration table or a quantized (QDQ) model"),
  engine_cache: z
    .string()
    .default("var/trt-cache")
    .describe("folder for built engines, one entry per model hash + TensorRT version + GPU + options; relative to the config file"),
  timing_cache: z
    .boolean()
    .default(true)
    .describe(
      "keep TensorRT's layer timing cache beside the engines (trt_timing_cache_enable), so later builds on this TensorRT and GPU reuse the measured tactics",
    ),
  workspace_mb: z.number().int().min(64).max(65_536).default(1024).describe("most GPU memory TensorRT may use while building (trt_max_workspace_size)"),
  builder_optimization_level: z
    .number()
    .int()
    .min(0)
    .max(5)
    .default(3)
    .describe("TensorRT builder effort 0–5 (trt_builder_optimization_level); higher builds longer for faster engines"),
});
export type TensorrtConfig = z.infer<typeof tensorrtSchema>;

export const cudaSchema = z.strictObject({
  device_id: z.number().int().min(0).max(15).default(0).describe("GPU index for the cuda and tensorrt providers"),
  cudnn_conv_algo_search: z
    .enum(["EXHAUSTIVE", "HEURISTIC", "DEFAULT"])
    .default("HEURISTIC")
    .describe("how the cuda provider picks convolution kernels; EXHAUSTIVE is slow to start on Jetson"),
  gpu_mem_limit_mb: z
    .number()
    .int()
    .min(64)
    .optional()
    .describe("most memory the cuda provider's arena may take; default unbounded (Jetson shares it with the CPU)"),
});
export type CudaConfig = z.infer<typeof cudaSchema>;

export const hwaccelSchema = z
  .enum(["auto", "jetson", "nvdec", "vaapi", "none"])
  .default("auto")
  .describe(
    "hardware video decode: jetson (NVDEC through NVIDIA's nvv4l2 ffmpeg), nvdec (CUDA GPUs), vaapi (Intel/AMD), none; auto picks what this ffmpeg and machine have; a missing decoder falls back to software with a warning",
  );
export type HwaccelChoice = z.infer<typeof hwaccelSchema>;
