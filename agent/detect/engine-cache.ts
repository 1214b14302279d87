// TensorRT engine cache that is never wrong. onnxruntime's TensorRT provider names cached engines by a hash of
// the graph and the GPU's compute capability only; an engine built by another TensorRT version, with other
// precision flags, or half-written when the power went, is loaded anyway (or crashes the load). So each
// engine lives in its own folder named by everything that shapes it, and is loaded only when the manifest
// written after a successful build and warm-up still matches the files byte for byte.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

export const MANIFEST = "eva-engine.json";
const MANIFEST_VERSION = 1;

export interface EngineKeyParts {
  modelSha256: string;
  tensorrtVersion: string;
  gpuName: string;
  onnxruntimeVersion: string;
  /** the trt_* options that change the built engine */
  options: Record<string, string>;
}

export interface EngineFile {
  name: string;
  size: number;
  sha256: string;
}

export interface EngineManifest {
  version: number;
  key: string;
  parts: EngineKeyParts;
  builtAt: string;
  buildMs: number;
  files: EngineFile[];
}

export type EntryCheck = { state: "hit" } | { state: "missing" } | { state: "stale"; why: string } | { state: "corrupt"; why: string };

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Stable JSON: keys sorted, so the same parts always give the same key. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The cache entry's name: 24 hex digits of the SHA-256 of every part that shapes the engine. */
export function engineCacheKey(parts: EngineKeyParts): string {
  return createHash("sha256").update(canonical(parts)).digest("hex").slice(0, 24);
}

/**
 * Whether an entry may be loaded. `manifestText` is the manifest's content (null when absent); `onDisk` the
 * entry's other files as found now. Pure: the shell reads the folder.
 */
export function checkEntry(key: string, manifestText: string | null, onDisk: readonly EngineFile[]): EntryCheck {
  if (manifestText === null) return onDisk.length ? { state: "corrupt", why: "files without a manifest (a build that did not finish)" } : { state: "missing" };
  let m: EngineManifest;
  try {
    m = JSON.parse(manifestText) as EngineManifest;
  } catch {
    return { state: "corrupt", why: "manifest is not JSON" };
  }
  if (m.version !== MANIFEST_VERSION || !Array.isArray(m.files)) return { state: "stale", why: `manifest version ${String(m.version)}` };
  if (m.key !== key) return { state: "stale", why: `manifest is for key ${String(m.key)}` };
  if (!m.files.some((f) => f.name.endsWith(".engine"))) return { state: "corrupt", why: "manifest lists no engine" };
  const found = new Map(onDisk.map((f) => [f.name, f]));
  for (const f of m.files) {
    const d = found.get(f.name);
    if (!d) return { state: "corrupt", why: `${f.name} is missing` };
    if (d.size !== f.size) return { state: "corrupt", why: `${f.name} is ${d.size} bytes, ${f.size} expected` };
    if (d.sha256 !== f.sha256) return { state: "corrupt", why: `${f.name} does not match its checksum` };
  }
  return { state: "hit" };
}

export interface CacheEntry {
  key: string;
  /** the engine's own folder: trt_engine_cache_path */
  dir: string;
  /** shared by every engine of this TensorRT version and GPU: trt_timing_cache_path */
  timingDir: string;
  check: EntryCheck;
}

function listFiles(dir: string): EngineFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n !== MANIFEST && statSync(path.join(dir, n)).isFile())
    .sort()
    .map((name) => {
      const bytes = readFileSync(path.join(dir, name));
      return { name, size: bytes.length, sha256: sha256(bytes) };
    });
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

/**
 * Finds this engine's entry under `root`. A stale or corrupt entry is emptied here, before onnxruntime could
 * load it, so that what follows is a clean build.
 */
export function openEntry(root: string, parts: EngineKeyParts): CacheEntry {
  const key = engineCacheKey(parts);
  const dir = path.join(root, key);
  const timingDir = path.join(root, `timing-${engineCacheKey({ ...parts, modelSha256: "", options: {} }).slice(0, 12)}`);
  const check = checkEntry(key, readText(path.join(dir, MANIFEST)), listFiles(dir));
  if (check.state === "stale" || check.state === "corrupt") rmSync(dir, { recursive: true, force: true });
  return { key, dir, timingDir, check };
}

/** Creates the entry's folders, right before TensorRT writes into them (throws when the root is not writable). */
export function prepareEntry(entry: CacheEntry): void {
  mkdirSync(entry.dir, { recursive: true });
  mkdirSync(entry.timingDir, { recursive: true });
}

/** After a failed build: an entry without a manifest is removed, so no half-written engine is left behind. */
export function abandonEntry(entry: CacheEntry): void {
  if (readText(path.join(entry.dir, MANIFEST)) === null) rmSync(entry.dir, { recursive: true, force: true });
  // The timing cache and the root go too when this attempt made them (a box whose TensorRT did not load).
  for (const dir of [entry.timingDir, path.dirname(entry.dir)]) {
    try {
      if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    } catch {
      // already gone
    }
  }
}

/** Empties an entry whose engine failed to load, so the retry builds. */
export function discardEntry(entry: CacheEntry): void {
  rmSync(entry.dir, { recursive: true, force: true });
  prepareEntry(entry);
}

/**
 * Writes the manifest after a build and a warm-up inference succeeded (atomically: a crash leaves no manifest,
 * which reads as corrupt and rebuilds). Returns an error text when no engine was written: the binding ignored
 * trt_engine_cache_path, i.e. it is not the patched one.
 */
export function sealEntry(entry: CacheEntry, parts: EngineKeyParts, buildMs: number): string | null {
  const files = listFiles(entry.dir);
  if (!files.some((f) => f.name.endsWith(".engine"))) {
    return "TensorRT wrote no engine into the cache: this onnxruntime-node binding ignores TensorRT options (microsoft/onnxruntime#26854); build the patched one (scripts/jetson/)";
  }
  const manifest: EngineManifest = { version: MANIFEST_VERSION, key: entry.key, parts, builtAt: new Date().toISOString(), buildMs: Math.round(buildMs), files };
  const tmp = path.join(entry.dir, `${MANIFEST}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(tmp, path.join(entry.dir, MANIFEST));
  return null;
}

// --- One builder per entry. Several sessions of one model (a worker pool, a bench beside the service) must not
// build into the same folder, nor empty it while another builds: the first takes `<key>.lock`, the others wait
// for it and then find the engine sealed.

export interface EntryLock {
  release(): void;
}

const LOCK_STALE_MS = 60 * 60 * 1000;

function lockHolderAlive(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, "utf8"));
    if (Date.now() - statSync(file).mtimeMs > LOCK_STALE_MS) return false;
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists under another user; anything else: no holder (or no file any more).
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Takes the entry's lock, waiting while a live holder builds; a lock whose holder died or is an hour old is broken. */
export async function lockEntry(root: string, key: string, onWait: () => void = () => {}, pollMs = 500): Promise<EntryLock> {
  mkdirSync(root, { recursive: true });
  const file = path.join(root, `${key}.lock`);
  let waited = false;
  for (;;) {
    try {
      const fd = openSync(file, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return { release: () => rmSync(file, { force: true }) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (!lockHolderAlive(file)) {
      rmSync(file, { force: true });
      continue;
    }
    if (!waited) onWait();
    waited = true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

// --- What the machine has: read once per worker, from files and tools every JetPack / CUDA install has.

const LIB_DIRS = ["/usr/lib/aarch64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/local/tensorrt/lib", "/usr/local/cuda/lib64", "/usr/lib64"];

/** "10.3.0" from libnvinfer.so.10.3.0 on the library path; EVA_TENSORRT_VERSION wins; "unknown" when not found. */
export function tensorrtVersion(env: NodeJS.ProcessEnv = process.env, dirs: readonly string[] = LIB_DIRS): string {
  if (env.EVA_TENSORRT_VERSION) return env.EVA_TENSORRT_VERSION;
  const search = [...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean), ...dirs];
  for (const dir of search) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    const versions = names.map((n) => /^libnvinfer\.so\.(\d+\.\d+\.\d+)/.exec(n)?.[1]).filter((v): v is string => !!v);
    if (versions.length) return versions.sort().at(-1)!;
  }
  // Last, the loader's own cache (a TensorRT under a path listed in /etc/ld.so.conf.d).
  try {
    const out = execFileSync("ldconfig", ["-p"], { encoding: "utf8", timeout: 5000, stdio: ["ignore", "pipe", "ignore"] });
    const target = /libnvinfer\.so\.\d+ \(.*\) => (\S+)/.exec(out)?.[1];
    const real = target ? /libnvinfer\.so\.(\d+\.\d+\.\d+)/.exec(realpathSync(target))?.[1] : undefined;
    if (real) return real;
  } catch {
    // no ldconfig, or no TensorRT
  }
  return "unknown";
}

/** The GPU's name: the Jetson module from the device tree, else nvidia-smi's; "unknown" when neither answers. */
export function gpuName(deviceId: number, deviceTreeModel = "/proc/device-tree/model"): string {
  const model = readText(deviceTreeModel)?.replace(/\0/g, "").trim();
  if (model && /nvidia|jetson/i.test(model)) return model;
  try {
    const out = execFileSync("nvidia-smi", ["--query-gpu=name", "--format=csv,noheader", `--id=${deviceId}`], {
      encoding: "utf8",
      timeout: 5000,
      stdio: ["ignore", "pipe", "ignore"],
    });
    return out.trim().split("\n")[0] || "unknown";
  } catch {
    return "unknown";
  }
}
