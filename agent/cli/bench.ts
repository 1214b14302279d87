import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { loadConfigFile, type LoadedConfig } from "../config/load.js";
import type { CameraConfig, Config } from "../config/schema.js";
import { Agent, type CameraFigures } from "../controller.js";
import { createLogger, logFormatFromEnv } from "../health/logger.js";
import { skipFrameOf } from "../parts/camera-pipelines.js";
import { parse, UsageError } from "./args.js";

// Figures that hold on a busy machine: CPU time per analysed frame, read per thread and per process from
// /proc (it counts what ran, not how long it waited for a core), with the phases interleaved so a background
// job's ups and downs fall on all of them alike. Wall-clock fps is printed beside it, but is the machine's.

type Log = ReturnType<typeof createLogger>;

/** CPU ms of a /proc stat file: utime + stime (fields 14 and 15), in clock ticks of 10 ms. */
function statMs(file: string): number {
  try {
    const fields = readFileSync(file, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0; // a process that has just exited
  }
}

/** This process's CPU split: its main thread, its other threads (detector workers, onnxruntime, libuv), its ffmpeg children. */
interface CpuSample {
  main: number;
  rest: number;
  ffmpeg: number;
  at: number;
}

/** ffmpeg processes' CPU, by pid, including those that ended since (kept from their last reading). */
const ffmpegSeen = new Map<number, number>();

function sampleCpu(): CpuSample {
  const total = statMs("/proc/self/stat");
  const main = statMs(`/proc/self/task/${process.pid}/stat`);
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.split(") ")[1]!.split(" ")[1]);
      if (ppid === process.pid && comm === "ffmpeg") ffmpegSeen.set(Number(entry), statMs(`/proc/${entry}/stat`));
    } catch {
      // gone between readdir and read
    }
  }
  let ffmpeg = 0;
  for (const ms of ffmpegSeen.values()) ffmpeg += ms;
  return { main, rest: total - main, ffmpeg, at: performance.now() };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw Object.assign(new Error(`bench: ${what} within ${timeoutMs / 1000} s`), { code: "EVA_BENCH" });
    await sleep(50);
  }
}

function sum(figures: Record<string, CameraFigures>, key: keyof CameraFigures): number {
  return Object.values(figures).reduce((a, f) => a + f[key], 0);
}

/** An agent on a throw-away store, with the cameras given; returns it started. */
async function startAgent(loaded: LoadedConfig, cameras: Record<string, CameraConfig>, dir: string, log: Log): Promise<Agent> {
  const config: Config = structuredClone(loaded.config);
  config.cameras = cameras;
  config.storage = { ...config.storage, db: path.join(dir, `bench-${Date.now()}.db`), snapshots: path.join(dir, "snapshots") };
  config.health = { ...config.health, port: 0 };
  const agent = new Agent({ ...loaded, config }, log);
  await agent.start();
  return agent;
}

interface PhaseResult {
  fps: number;
  /** mean time inside onnxruntime's run() (eva phases only) */
  inferMs?: number;
  provider?: string;
  /** detector runs (tiles) and classifier crops per analysed frame (eva phases only) */
  modelRuns?: number;
  crops?: number;
  /** the detector's round trip over the phase's recent frames, p50 and p95 (eva phases only) */
  inferP50?: number;
  inferP95?: number;
  frames: number;
  /** CPU ms per analysed frame */
  ffmpeg: number;
  main: number;
  detector: number;
  total: number;
}

/** The whole agent on one camera, its file read as fast as the pipeline takes frames (capacity). */
async function evaPhase(loaded: LoadedConfig, name: string, cam: CameraConfig, seconds: number, dir: string, log: Log): Promise<PhaseResult> {
  const agent = await startAgent(loaded, { [name]: cam }, dir, log);
  try {
    await waitFor(() => (agent.figures()[name]?.processed ?? 0) > 5, 60_000, `camera '${name}' analysed no frame`);
    const a = sampleCpu();
    const fa = agent.figures()[name]!;
    await sleep(seconds * 1000);
    const b = sampleCpu();
    const fb = agent.figures()[name]!;
    const frames = fb.processed - fa.processed;
    const r = perFrame(frames, (b.at - a.at) / 1000, b.ffmpeg - a.ffmpeg, b.main - a.main, b.rest - a.rest);
    const n = Math.max(1, frames);
    const pct = agent.inference()[name];
    return {
      ...r,
      inferMs: (fb.inferMsTotal - fa.inferMsTotal) / n,
      inferP50: pct?.p50 ?? NaN,
      inferP95: pct?.p95 ?? NaN,
      provider: agent.providers()[cam.detect.model] ?? "none",
      modelRuns: (fb.modelRuns - fa.modelRuns) / n,
      crops: (fb.crops - fa.crops) / n,
    };
  } finally {
    await agent.stop(0);
  }
}

function perFrame(frames: number, seconds: number, ffmpeg: number, main: number, detector: number): PhaseResult {
  const n = Math.max(1, frames);
  return { fps: frames / seconds, frames, ffmpeg: ffmpeg / n, main: main / n, detector: detector / n, total: (ffmpeg + main + detector) / n };
}

const baselineScript = fileURLToPath(new URL("../../../scripts/bench-baseline.mjs", import.meta.url));

/** scripts/bench-baseline.mjs on the same clip, model, detect size and decoder settings, in a child process. */
function baselinePhase(loaded: LoadedConfig, cam: CameraConfig, seconds: number): Promise<PhaseResult> {
  const model = loaded.config.models[cam.detect.model]!;
  const args = [
    baselineScript,
    "--model",
    model.path,
    "--source",
    cam.detect_source ?? cam.source,
    "--fps",
    String(cam.fps),
    "--seconds",
    String(seconds),
    "--threads",
    String(cam.decode.threads),
  ];
  if (cam.detect.width && cam.detect.height) args.push("--width", String(cam.detect.width), "--height", String(cam.detect.height));
  if (model.resize) args.push("--resize", model.resize);
  // The same decoder work as the camera's ffmpeg, so the ratio is the agent's overhead, not a decoder setting.
  args.push("--skip-frame", skipFrameOf(cam));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { timeout: (seconds + 60) * 1000 }, (err, stdout, stderr) => {
      if (err) return reject(Object.assign(new Error(`bench: baseline failed: ${stderr || err.message}`), { code: "EVA_BENCH" }));
      let r: { frames: number; seconds: number; ffmpegMs: number; mainMs: number; otherMs: number };
      try {
        r = JSON.parse(stdout.trim().split("\n").at(-1)!) as typeof r;
      } catch {
        return reject(Object.assign(new Error(`bench: the baseline printed no figures: ${(stderr || stdout).slice(-500)}`), { code: "EVA_BENCH" }));
      }
      resolve(perFrame(r.frames, r.seconds, r.ffmpegMs, r.mainMs, r.otherMs));
    });
  });
}

/**
 * `eva bench --config FILE [--camera NAME] [--seconds N] [--rounds R] [--baseline]`: the agent's CPU per analysed
 * frame by stage, and with --baseline the minimal ffmpeg → onnxruntime loop's on the same clip, phases
 * alternating (A B B A …), medians over the rounds.
 *
 * `eva bench --config FILE --cameras N --clip FILE [--seconds N] [--motion on|off]`: N real-time copies of a clip
 * on the config's first camera's settings; per camera processed, skipped and gated fps; CPU in cores by stage;
 * event-loop lag p50/p99/max with the timer's own period taken out.
 */
export async function bench(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: "string", short: "c" },
    camera: { type: "string" },
    seconds: { type: "string" },
    rounds: { type: "string" },
    baseline: { type: "boolean" },
    cameras: { type: "string" },
    clip: { type: "string" },
    motion: { type: "string" },
    json: { type: "boolean" },
  });
  if (!values.config) throw new UsageError("eva bench needs --config FILE");
  const loaded = loadConfigFile(values.config);
  const names = Object.keys(loaded.config.cameras);
  const name = values.camera ?? names[0];
  if (!name || !(name in loaded.config.cameras)) throw new UsageError(`no camera '${values.camera}' in ${values.config}; cameras: ${names.join(", ")}`);
  const number = (v: string | undefined, dflt: number, what: string) => {
    const n = v === undefined ? dflt : Number(v);
    if (!(n > 0)) throw new UsageError(`${what} must be a positive number`);
    return n;
  };
  const whole = (v: string | undefined, dflt: number, what: string) => {
    const n = number(v, dflt, what);
    if (!Number.isInteger(n)) throw new UsageError(`${what} must be a whole number`);
    return n;
  };
  if (values.motion !== undefined && values.motion !== "on" && values.motion !== "off") throw new UsageError("--motion is on or off");
  const log = createLogger({ level: process.env.EVA_LOG_LEVEL ?? "warn", format: logFormatFromEnv() ?? "auto" });
  const dir = mkdtempSync(path.join(tmpdir(), "eva-bench-"));
  const print = (result: Record<string, unknown>) => {
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(30)} ${typeof v === "object" ? JSON.stringify(v) : v}\n`);
  };
  try {
    const base = loaded.config.cameras[name]!;
    if (values.cameras !== undefined) {
      if (!values.clip) throw new UsageError("--cameras N needs --clip FILE");
      const motion = values.motion === undefined ? base.motion.enabled : values.motion === "on";
      print(await manyCameras(loaded, base, whole(values.cameras, 1, "--cameras"), values.clip, motion, number(values.seconds, 30, "--seconds"), dir, log));
      return 0;
    }
    const seconds = number(values.seconds, 8, "--seconds");
    const rounds = whole(values.rounds, 3, "--rounds");
    // Capacity, per analysed frame: the file as fast as the pipeline takes it; gating off, every frame analysed.
    const cam: CameraConfig = { ...base, realtime: false, loop: true, enabled: true, motion: { ...base.motion, enabled: false } };
    const eva: PhaseResult[] = [];
    const baseline: PhaseResult[] = [];
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      // A B, then B A: neither phase always runs first after a pause.
      const order = r % 2 === 0 ? ["eva", "baseline"] : ["baseline", "eva"];
      for (const phase of order) {
        if (phase === "eva") eva.push(await evaPhase(loaded, name, cam, seconds, dir, log));
        else if (values.baseline) baseline.push(await baselinePhase(loaded, cam, seconds));
        loads.push(loadavg()[0]!);
      }
    }
    const med = (rs: PhaseResult[], k: "fps" | "inferMs" | "inferP50" | "inferP95" | "modelRuns" | "crops" | "ffmpeg" | "main" | "detector" | "total") =>
      round(median(rs.map((x) => x[k] ?? NaN)));
    const result: Record<string, unknown> = {
      camera: name,
      model: cam.detect.model,
      detect_size: `${cam.detect.width ?? "model"}x${cam.detect.height ?? "model"}`,
      rounds,
      seconds_per_phase: seconds,
      load_average: `${round(Math.min(...loads), 1)}–${round(Math.max(...loads), 1)}`,
      provider: eva[0]!.provider,
      eva_fps: med(eva, "fps"),
      // the names scripts/gpu-check.sh reads: the whole pipeline's rate and the time inside run()
      pipeline_fps: med(eva, "fps"),
      infer_ms_mean: med(eva, "inferMs"),
      infer_ms_p50: med(eva, "inferP50"),
      infer_ms_p95: med(eva, "inferP95"),
      // detect.tiles and classify: detector runs and classifier crops per analysed frame
      tiles: Math.round(med(eva, "modelRuns")),
      pipeline_model_runs_per_frame: med(eva, "modelRuns"),
      crops_per_frame: med(eva, "crops"),
      pipeline_crops_per_frame: med(eva, "crops"),
      infer_cpu_ms_per_frame: med(eva, "detector"),
      eva_cpu_ms_per_frame: { ffmpeg: med(eva, "ffmpeg"), main: med(eva, "main"), detector: med(eva, "detector"), total: med(eva, "total") },
    };
    if (values.baseline) {
      result.baseline_fps = med(baseline, "fps");
      result.baseline_cpu_ms_per_frame = {
        ffmpeg: med(baseline, "ffmpeg"),
        main: med(baseline, "main"),
        detector: med(baseline, "detector"),
        total: med(baseline, "total"),
      };
      // Each round's ratio from its own pair, so slow drift in the load cancels.
      result.cpu_ratio_eva_to_baseline = round(median(eva.map((e, i) => e.total / baseline[i]!.total)), 3);
      result.cpu_ratio_per_round = eva.map((e, i) => round(e.total / baseline[i]!.total, 3));
    }
    print(result);
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** N real-time copies of a clip through one agent, as N cameras. */
async function manyCameras(loaded: LoadedConfig, base: CameraConfig, n: number, clip: string, motion: boolean, seconds: number, dir: string, log: Log) {
  const cameras: Record<string, CameraConfig> = {};
  for (let i = 1; i <= n; i++)
    cameras[`cam${i}`] = {
      ...base,
      source: clip,
      detect_source: undefined,
      realtime: true,
      loop: true,
      enabled: true,
      motion: { ...base.motion, enabled: motion },
    } as CameraConfig;
  const started = performance.now();
  const agent = await startAgent(loaded, cameras, dir, log);
  try {
    await waitFor(() => Object.values(agent.figures()).every((f) => f.processed + f.gated > 0), 90_000, "every camera delivering frames");
    const firstFrameS = (performance.now() - started) / 1000;
    await sleep(3000); // past the start-up burst
    // The lag: a 10 ms timer's period is not lag; what comes on top of it is.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const fa = agent.figures();
    const a = sampleCpu();
    await sleep(seconds * 1000);
    const b = sampleCpu();
    const fb = agent.figures();
    lag.disable();
    const wall = (b.at - a.at) / 1000;
    const lagMs = (q: number) => round(Math.max(0, lag.percentile(q) / 1e6 - 10));
    const perCamera = Object.fromEntries(
      Object.keys(cameras).map((c) => {
        const d = (k: keyof CameraFigures) => round((fb[c]![k] - fa[c]![k]) / wall);
        return [c, { in: d("framesIn"), processed: d("processed"), skipped: d("framesSkipped"), gated: d("gated") }];
      }),
    );
    const delta = (k: keyof CameraFigures) => (sum(fb, k) - sum(fa, k)) / wall;
    const cores = (ms: number) => round(ms / 1000 / wall);
    return {
      cameras: n,
      clip: path.basename(clip),
      model: base.detect.model,
      fps_per_camera: base.fps,
      motion_gating: motion,
      seconds,
      load_average: round(loadavg()[0]!, 1),
      first_frames_after_s: round(firstFrameS, 1),
      fps_wanted: n * base.fps,
      fps_processed: round(delta("processed")),
      fps_skipped: round(delta("framesSkipped")),
      fps_gated: round(delta("gated")),
      cpu_cores: {
        ffmpeg: cores(b.ffmpeg - a.ffmpeg),
        main: cores(b.main - a.main),
        detector: cores(b.rest - a.rest),
        total: cores(b.ffmpeg - a.ffmpeg + b.main - a.main + b.rest - a.rest),
      },
      event_loop_lag_ms: { p50: lagMs(50), p99: lagMs(99), max: round(Math.max(0, lag.max / 1e6 - 10)) },
      per_camera: perCamera,
    };
  } finally {
    await agent.stop(0);
  }
}
