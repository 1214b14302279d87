import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tensorrtSchema, cudaSchema } from "../../agent/config/gpu-schema.js";
import {
  checkEntry,
  engineCacheKey,
  gpuName,
  lockEntry,
  MANIFEST,
  openEntry,
  prepareEntry,
  sealEntry,
  tensorrtVersion,
  type EngineKeyParts,
} from "../../agent/detect/engine-cache.js";
import { openTensorrtSession } from "../../agent/detect/tensorrt-session.js";

const parts: EngineKeyParts = {
  modelSha256: "a".repeat(64),
  tensorrtVersion: "10.3.0",
  gpuName: "NVIDIA Jetson Orin Nano Developer Kit",
  onnxruntimeVersion: "1.30.0",
  options: { trt_fp16_enable: "1", trt_int8_enable: "0", trt_max_workspace_size: "1073741824", trt_builder_optimization_level: "3" },
};

describe("engineCacheKey", () => {
  it("is the same for the same parts whatever their order, and changes with each part", () => {
    const k = engineCacheKey(parts);
    expect(k).toMatch(/^[0-9a-f]{24}$/);
    const reordered = {
      options: { ...parts.options },
      gpuName: parts.gpuName,
      onnxruntimeVersion: "1.30.0",
      tensorrtVersion: "10.3.0",
      modelSha256: parts.modelSha256,
    };
    expect(engineCacheKey(reordered)).toBe(k);
    const variants: EngineKeyParts[] = [
      { ...parts, modelSha256: "b".repeat(64) },
      { ...parts, tensorrtVersion: "10.3.1" },
      { ...parts, gpuName: "NVIDIA Jetson AGX Orin" },
      { ...parts, onnxruntimeVersion: "1.31.0" },
      { ...parts, options: { ...parts.options, trt_fp16_enable: "0" } },
      { ...parts, options: { ...parts.options, trt_builder_optimization_level: "5" } },
    ];
    const keys = new Set(variants.map(engineCacheKey));
    expect(keys.size).toBe(variants.length);
    expect(keys.has(k)).toBe(false);
  });
});

describe("checkEntry (pure)", () => {
  const key = engineCacheKey(parts);
  const engine = { name: "TensorrtExecutionProvider_TRTKernel_graph_main_123_0_sm87.engine", size: 10, sha256: "c".repeat(64) };
  const manifest = (over: object = {}) => JSON.stringify({ version: 1, key, parts, builtAt: "", buildMs: 1, files: [engine], ...over });

  it("an empty entry is missing; files without a manifest are a build that did not finish", () => {
    expect(checkEntry(key, null, [])).toEqual({ state: "missing" });
    expect(checkEntry(key, null, [engine]).state).toBe("corrupt");
  });
  it("a matching manifest and files is a hit", () => {
    expect(checkEntry(key, manifest(), [engine])).toEqual({ state: "hit" });
  });
  it("a manifest for another key or format is stale", () => {
    expect(checkEntry(key, manifest({ key: "0".repeat(24) }), [engine]).state).toBe("stale");
    expect(checkEntry(key, manifest({ version: 0 }), [engine]).state).toBe("stale");
  });
  it("a changed, truncated or missing engine, or a broken manifest, is corrupt", () => {
    expect(checkEntry(key, manifest(), [{ ...engine, sha256: "d".repeat(64) }])).toMatchObject({ state: "corrupt", why: expect.stringMatching(/checksum/) });
    expect(checkEntry(key, manifest(), [{ ...engine, size: 9 }])).toMatchObject({ state: "corrupt", why: expect.stringMatching(/9 bytes/) });
    expect(checkEntry(key, manifest(), [])).toMatchObject({ state: "corrupt", why: expect.stringMatching(/missing/) });
    expect(checkEntry(key, "{not json", [engine]).state).toBe("corrupt");
    expect(checkEntry(key, manifest({ files: [{ ...engine, name: "x.profile" }] }), [{ ...engine, name: "x.profile" }]).state).toBe("corrupt");
  });
});

describe("the cache on disk", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "eva-trt-cache-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const writeEngine = (dir: string, bytes = "engine-bytes") => writeFileSync(path.join(dir, "TensorrtExecutionProvider_TRTKernel_graph_0_sm87.engine"), bytes);

  it("seals a built entry, finds it again, and empties it when an engine byte changed", () => {
    const first = openEntry(root, parts);
    expect(first.check.state).toBe("missing");
    prepareEntry(first);
    writeEngine(first.dir);
    expect(sealEntry(first, parts, 1234)).toBeNull();
    const m = JSON.parse(readFileSync(path.join(first.dir, MANIFEST), "utf8"));
    expect(m).toMatchObject({ key: first.key, buildMs: 1234, parts });
    expect(openEntry(root, parts).check.state).toBe("hit");

    writeEngine(first.dir, "engine-bytez");
    const again = openEntry(root, parts);
    expect(again.check).toMatchObject({ state: "corrupt" });
    expect(existsSync(again.dir)).toBe(false);
  });

  it("other options or another TensorRT use another entry; the old one is never loaded for them", () => {
    const a = openEntry(root, parts);
    prepareEntry(a);
    writeEngine(a.dir);
    sealEntry(a, parts, 1);
    const b = openEntry(root, { ...parts, options: { ...parts.options, trt_fp16_enable: "0" } });
    expect(b.dir).not.toBe(a.dir);
    expect(b.check.state).toBe("missing");
    const c = openEntry(root, { ...parts, tensorrtVersion: "10.7.0" });
    expect(c.check.state).toBe("missing");
    expect(c.timingDir).not.toBe(a.timingDir);
  });

  it("will not seal an entry without an engine (an unpatched binding ignores trt_engine_cache_path)", () => {
    const e = openEntry(root, parts);
    prepareEntry(e);
    expect(sealEntry(e, parts, 1)).toMatch(/26854/);
    expect(existsSync(path.join(e.dir, MANIFEST))).toBe(false);
  });

  it("reads the TensorRT version from libnvinfer's file name and the GPU from the device tree", () => {
    const lib = path.join(root, "lib");
    mkdirSync(lib);
    for (const f of ["libnvinfer.so", "libnvinfer.so.10", "libnvinfer.so.10.3.0", "libnvinfer_plugin.so.10.3.0"]) writeFileSync(path.join(lib, f), "");
    expect(tensorrtVersion({}, [path.join(root, "nothing"), lib])).toBe("10.3.0");
    expect(tensorrtVersion({ EVA_TENSORRT_VERSION: "8.6.2" }, [lib])).toBe("8.6.2");
    const model = path.join(root, "model");
    writeFileSync(model, "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super\0");
    expect(gpuName(0, model)).toBe("NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super");
  });
});

describe("openTensorrtSession around the cache", () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "eva-trt-session-"));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const gpu = () => ({ tensorrt: tensorrtSchema.parse({ engine_cache: root }), cuda: cudaSchema.parse({}) });
  const model = new Uint8Array([1, 2, 3]);
  // Stands in for onnxruntime's TensorRT provider: writes an engine where it is told to, or fails.
  function provider(fail: (dir: string | undefined) => boolean = () => false) {
    const calls: Array<string | undefined> = [];
    return {
      calls,
      create: async (cache: { engineDir: string } | undefined) => {
        calls.push(cache?.engineDir);
        if (fail(cache?.engineDir)) throw new Error("deserialization failed: version tag mismatch");
        if (cache && !readdirSync(cache.engineDir).some((f) => f.endsWith(".engine"))) writeFileSync(path.join(cache.engineDir, "g_sm87.engine"), "E");
        return { id: calls.length };
      },
    };
  }
  const open = (p: ReturnType<typeof provider>, building: string[]) =>
    openTensorrtSession({ model, gpu: gpu(), onnxruntimeVersion: "1.30.0", create: p.create, building: (_k, why) => building.push(why) });
  const withVersion = async <T>(f: () => Promise<T>) => {
    process.env.EVA_TENSORRT_VERSION = "10.3.0";
    try {
      return await f();
    } finally {
      delete process.env.EVA_TENSORRT_VERSION;
    }
  };

  it("builds and seals on the first start, loads without building on the second", async () => {
    await withVersion(async () => {
      const p = provider();
      const building: string[] = [];
      const first = await open(p, building);
      expect(first.engine.cache).toBe("built");
      expect(building).toEqual([expect.stringMatching(/no engine/)]);
      expect(first.finish(true)).toBeNull();
      const second = await open(p, building);
      expect(second.engine.cache).toBe("hit");
      expect(building).toHaveLength(1);
    });
  });

  it("an engine that fails to load is discarded and rebuilt; a failed build leaves nothing behind", async () => {
    await withVersion(async () => {
      const good = provider();
      const first = await open(good, []);
      first.finish(true);
      let n = 0;
      const flaky = provider(() => n++ === 0);
      const building: string[] = [];
      const again = await open(flaky, building);
      expect(again.engine.cache).toBe("built");
      expect(building[0]).toMatch(/failed to load.*version tag/);

      rmSync(root, { recursive: true, force: true });
      mkdirSync(root);
      await expect(
        open(
          provider(() => true),
          [],
        ),
      ).rejects.toThrow(/deserialization/);
      expect(existsSync(root) ? readdirSync(root) : []).toEqual([]);
    });
  });

  it("without a known TensorRT version nothing is cached", async () => {
    const p = provider();
    const s = await open(p, []);
    // This machine has no TensorRT; on one with it installed the version is found and the cache is used.
    if (tensorrtVersion() === "unknown") {
      expect(s.engine.cache).toBe("uncached");
      expect(p.calls).toEqual([undefined]);
    }
  });

  it("two sessions of one engine at once: one builds, the other waits and loads what it sealed", async () => {
    await withVersion(async () => {
      let builds = 0;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const slow = {
        create: async (cache: { engineDir: string } | undefined) => {
          const fresh = !readdirSync(cache!.engineDir).some((f) => f.endsWith(".engine"));
          if (fresh) {
            builds++;
            await gate;
            writeFileSync(path.join(cache!.engineDir, "g_sm87.engine"), "E");
          }
          return {};
        },
      };
      const waits: string[] = [];
      const opts = { model, gpu: gpu(), onnxruntimeVersion: "1.30.0", create: slow.create, building: () => {} };
      const a = openTensorrtSession(opts);
      await new Promise((r) => setTimeout(r, 100));
      const b = openTensorrtSession({ ...opts, waiting: (k: string) => waits.push(k) });
      await new Promise((r) => setTimeout(r, 100));
      expect(waits).toHaveLength(1);
      release();
      const first = await a;
      expect(first.engine.cache).toBe("built");
      first.finish(true);
      expect((await b).engine.cache).toBe("hit");
      expect(builds).toBe(1);
    });
  });

  it("a build thrown away (warm-up failed) leaves no entry and frees the lock", async () => {
    await withVersion(async () => {
      const s = await open(provider(), []);
      expect(s.finish(false)).toBeNull();
      const again: string[] = [];
      expect((await open(provider(), again)).engine.cache).toBe("built");
      expect(again).toEqual([expect.stringMatching(/no engine/)]);
    });
  });

  it("a lock left by a process that died is broken", async () => {
    writeFileSync(path.join(root, "k.lock"), "999999999");
    const lock = await lockEntry(root, "k");
    expect(readFileSync(path.join(root, "k.lock"), "utf8")).toBe(String(process.pid));
    lock.release();
    expect(existsSync(path.join(root, "k.lock"))).toBe(false);
  });
});
