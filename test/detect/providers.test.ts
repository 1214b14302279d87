import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { cudaSchema, tensorrtSchema } from "../../agent/config/gpu-schema.js";
import ort from "onnxruntime-node";
import { Detector } from "../../agent/detect/detector.js";
import { readOnnxModel } from "../../agent/detect/onnx-model-proto.js";
import { nodePlacement, PlacementProfile } from "../../agent/detect/onnx-session.js";
import {
  executionProvider,
  gpuOptionsForModel,
  ignoredGpuOptionsNote,
  qdqTensorrtReady,
  sessionProviders,
  tensorrtEngineOptions,
  tensorrtQdqNote,
  type GpuOptions,
} from "../../agent/detect/providers.js";
import { repoRoot } from "../support/paths.js";
import { sharedModel } from "./fixtures.js";

const gpu = (t: Partial<GpuOptions["tensorrt"]> = {}, c: Partial<GpuOptions["cuda"]> = {}): GpuOptions => ({
  tensorrt: tensorrtSchema.parse({ engine_cache: "/cache", ...t }),
  cuda: cudaSchema.parse(c),
});
const cache = { engineDir: "/cache/abc", timingDir: "/cache/timing-1" };

describe("executionProvider: which options reach which provider", () => {
  it("gives TensorRT every trt_* option under onnxruntime's own names, with the cache folders", () => {
    const entry = executionProvider("tensorrt", gpu({ fp16: true, int8: false, workspace_mb: 2048, builder_optimization_level: 4 }, { device_id: 1 }), cache);
    expect(entry).toEqual({
      name: "tensorrt",
      deviceId: 1,
      trt_fp16_enable: "1",
      trt_int8_enable: "0",
      trt_max_workspace_size: String(2048 * 1024 * 1024),
      trt_builder_optimization_level: "4",
      trt_engine_cache_enable: "1",
      trt_engine_cache_path: "/cache/abc",
      trt_timing_cache_enable: "1",
      trt_timing_cache_path: "/cache/timing-1",
    });
  });

  it("turns the caches off when there is no usable cache folder or timing_cache is false", () => {
    const noCache = executionProvider("tensorrt", gpu(), undefined) as Record<string, unknown>;
    expect(noCache.trt_engine_cache_enable).toBe("0");
    expect(noCache.trt_timing_cache_enable).toBe("0");
    expect(noCache).not.toHaveProperty("trt_engine_cache_path");
    const noTiming = executionProvider("tensorrt", gpu({ timing_cache: false }), cache) as Record<string, unknown>;
    expect(noTiming.trt_engine_cache_enable).toBe("1");
    expect(noTiming.trt_timing_cache_enable).toBe("0");
  });

  it("gives CUDA only CUDA options, and the CPU provider none", () => {
    const cuda = executionProvider("cuda", gpu({ fp16: true }, { device_id: 2, gpu_mem_limit_mb: 512, cudnn_conv_algo_search: "DEFAULT" }), cache);
    expect(cuda).toEqual({ name: "cuda", deviceId: 2, cudnn_conv_algo_search: "DEFAULT", gpu_mem_limit: String(512 * 1024 * 1024) });
    expect(Object.keys(cuda as object).some((k) => k.startsWith("trt_"))).toBe(false);
    expect(executionProvider("cpu", gpu(), cache)).toBe("cpu");
  });

  it("without GPU options a provider gets onnxruntime's defaults", () => {
    expect(executionProvider("tensorrt", undefined)).toEqual({ name: "tensorrt", deviceId: 0 });
    expect(executionProvider("cpu", undefined)).toBe("cpu");
  });

  it("the note about ignored GPU options comes only when a GPU provider was asked for and cpu runs", () => {
    expect(ignoredGpuOptionsNote(["tensorrt", "cuda", "cpu"], "cpu")).toMatch(/ignored: tensorrt and cuda unavailable/);
    expect(ignoredGpuOptionsNote(["cpu"], "cpu")).toBeNull();
    expect(ignoredGpuOptionsNote(["tensorrt", "cpu"], "tensorrt")).toBeNull();
  });
});

describe("sessionProviders: what a session is created with for providers [tensorrt, cuda, cpu]", () => {
  const providers = ["tensorrt", "cuda", "cpu"] as const;
  const options = gpu({ fp16: true }, { device_id: 1 });

  it("the TensorRT session lists TensorRT (with the cache), then CUDA, then the CPU, in that order", () => {
    const list = sessionProviders(providers, "tensorrt", options, cache);
    expect(list).toHaveLength(3);
    expect(list[0]).toEqual(executionProvider("tensorrt", options, cache));
    expect(list[0]).toMatchObject({ name: "tensorrt", deviceId: 1, trt_engine_cache_path: "/cache/abc" });
    expect(list[1]).toEqual({ name: "cuda", deviceId: 1, cudnn_conv_algo_search: "HEURISTIC" });
    expect(list[2]).toBe("cpu");
  });

  it("a later provider's session lists only what comes after it; one not in this build is left out", () => {
    expect(sessionProviders(providers, "cuda", options, cache)).toEqual([executionProvider("cuda", options), "cpu"]);
    expect(sessionProviders(providers, "cpu", options, cache)).toEqual(["cpu"]);
    expect(sessionProviders(providers, "tensorrt", options, cache, new Set(["tensorrt", "cpu"]))).toEqual([
      executionProvider("tensorrt", options, cache),
      "cpu",
    ]);
    // a deployment that lists TensorRT alone gets no CUDA fallback it did not ask for (onnxruntime still adds the CPU)
    expect(sessionProviders(["tensorrt"], "tensorrt", options, cache)).toHaveLength(1);
  });
});

describe("Q/DQ models on TensorRT (the shipped files)", () => {
  const qdqOf = (file: string) => readOnnxModel(new Uint8Array(readFileSync(path.join(repoRoot, "models", file)))).qdq;

  it("the CPU's int8 file is uint8 with non-zero zero points: not TensorRT's form, and the log says why", () => {
    const qdq = qdqOf("traffic-signs.onnx");
    expect(qdq.zeroPointTypes.uint8).toBeGreaterThan(0);
    expect(qdq.nonZeroZeroPoints).toBeGreaterThan(0);
    expect(qdqTensorrtReady(qdq)).toBe(false);
    expect(tensorrtQdqNote("traffic-signs.onnx", qdq)).toMatch(/traffic-signs\.onnx: .*uint8.*not 0.*--target tensorrt/);
  });

  it("the TensorRT file is signed int8 with every zero point 0; the float file has no Q/DQ and no note", () => {
    const qdq = qdqOf("traffic-signs-tensorrt.onnx");
    expect(qdq.nodes).toBeGreaterThan(100);
    expect(qdq.zeroPointTypes).toEqual({ int8: qdq.nodes });
    expect(qdq.nonZeroZeroPoints).toBe(0);
    expect(qdqTensorrtReady(qdq)).toBe(true);
    expect(tensorrtQdqNote("traffic-signs-tensorrt.onnx", qdq)).toBeNull();
    expect(tensorrtQdqNote("traffic-signs-fp32.onnx", qdqOf("traffic-signs-fp32.onnx"))).toBeNull();
  });

  it("a Q/DQ model gets trt_int8_enable (and so its own engine-cache entry); a float model keeps the configured options", () => {
    const options = gpu({ fp16: true, int8: false });
    expect(tensorrtEngineOptions(gpuOptionsForModel(options, qdqOf("traffic-signs-tensorrt.onnx")).tensorrt).trt_int8_enable).toBe("1");
    expect(gpuOptionsForModel(options, qdqOf("traffic-signs-fp32.onnx"))).toBe(options);
    const entry = executionProvider("tensorrt", gpuOptionsForModel(options, qdqOf("traffic-signs.onnx")), cache) as Record<string, unknown>;
    expect(entry).toMatchObject({ trt_int8_enable: "1", trt_fp16_enable: "1" });
  });
});

describe("node placement from onnxruntime's profile", () => {
  it("counts the nodes of one real run by provider and removes the profile", async () => {
    // onnxruntime's logger is set once per process, by its first session: as quiet as the workers make theirs
    ort.env.logLevel = "fatal";
    const profile = new PlacementProfile();
    const session = await ort.InferenceSession.create(sharedModel("fastestdet.onnx"), {
      executionProviders: ["cpu"],
      intraOpNumThreads: 1,
      ...profile.sessionOptions(),
    });
    const [input] = session.inputMetadata;
    const dims = (input as unknown as { shape: (number | string)[] }).shape.map((d) => (typeof d === "number" ? d : 1));
    await session.run({ [session.inputNames[0]]: new ort.Tensor("float32", new Float32Array(dims.reduce((a, b) => a * b, 1)), dims) });
    const dir = (profile.sessionOptions().profileFilePrefix as string).replace(/\/run$/, "");
    expect(readdirSync(dir).some((f) => f.endsWith(".json"))).toBe(true);
    const placement = profile.read(session);
    await session.release();
    expect(Object.keys(placement ?? {})).toEqual(["CPUExecutionProvider"]);
    expect(placement!.CPUExecutionProvider.nodes).toBeGreaterThan(10);
    expect(placement!.CPUExecutionProvider.ops).toContain("Conv");
    expect(existsSync(dir)).toBe(false);
  });

  it("reads only node events, by their provider", () => {
    const events = [
      { cat: "Session", name: "model_run", args: {} },
      { cat: "Node", name: "TRTKernel_graph_main_0_kernel_time", args: { provider: "TensorrtExecutionProvider", op_name: "TRTKernel_graph_main_0" } },
      { cat: "Node", name: "Resize_1_fence_before", args: { provider: "CUDAExecutionProvider", op_name: "Resize" } },
      { cat: "Node", name: "Resize_1_kernel_time", args: { provider: "CUDAExecutionProvider", op_name: "Resize" } },
      { cat: "Node", name: "NonMaxSuppression_kernel_time", args: { provider: "CPUExecutionProvider", op_name: "NonMaxSuppression" } },
    ];
    expect(nodePlacement(events)).toEqual({
      TensorrtExecutionProvider: { nodes: 1, ops: ["TRTKernel_graph_main_0"] },
      CUDAExecutionProvider: { nodes: 1, ops: ["Resize"] },
      CPUExecutionProvider: { nodes: 1, ops: ["NonMaxSuppression"] },
    });
    expect(nodePlacement({ not: "an array" })).toEqual({});
  });
});

describe("a CPU build of onnxruntime with GPU options configured (this machine)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-providers-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("runs on cpu, says once that it ignores the options, warms up, and leaves no engine cache behind", async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logger = pino(sink);
    const engineCache = path.join(dir, "trt-cache");
    const options = {
      model: { path: sharedModel("fastestdet.onnx"), labels: sharedModel("coco.names") },
      providers: ["tensorrt", "cuda", "cpu"] as const,
      threads: 1,
      gpu: gpu({ engine_cache: engineCache }),
      logger,
    };
    const a = await Detector.open({ name: "a", ...options });
    const b = await Detector.open({ name: "b", ...options });
    await Promise.all([a.close(), b.close()]);
    expect([a.provider, b.provider]).toEqual(["cpu", "cpu"]);
    const logs = lines.map((l) => JSON.parse(l) as { msg: string; provider?: string; err?: string; warmup_ms?: number });
    expect(logs.filter((l) => l.msg.includes("options ignored"))).toHaveLength(1);
    // The provider failed for want of its libraries, not over the options it was handed.
    for (const l of logs.filter((l) => l.provider === "tensorrt" && l.msg.includes("unavailable")))
      expect(l.err).toMatch(/Failed to load shared library|not in this onnxruntime build/);
    const ready = logs.filter((l) => l.msg === "detector ready");
    expect(ready).toHaveLength(2);
    for (const r of ready) expect(r.warmup_ms).toBeGreaterThanOrEqual(0);
    expect(logs.some((l) => l.msg.includes("building TensorRT engine"))).toBe(false);
    expect(existsSync(engineCache) ? readdirSync(engineCache) : []).toEqual([]);
  });
});
