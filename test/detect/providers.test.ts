import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { cudaSchema, tensorrtSchema } from "../../agent/config/gpu-schema.js";
import { Detector } from "../../agent/detect/detector.js";
import { executionProvider, ignoredGpuOptionsNote, type GpuOptions } from "../../agent/detect/providers.js";
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
    for (const l of logs.filter((l) => l.provider === "tensorrt" && l.msg.includes("unavailable"))) expect(l.err).toMatch(/Failed to load shared library|not in this onnxruntime build/);
    const ready = logs.filter((l) => l.msg === "detector ready");
    expect(ready).toHaveLength(2);
    for (const r of ready) expect(r.warmup_ms).toBeGreaterThanOrEqual(0);
    expect(logs.some((l) => l.msg.includes("building TensorRT engine"))).toBe(false);
    expect(existsSync(engineCache) ? readdirSync(engineCache) : []).toEqual([]);
  });
});
