import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Camera } from "../camera/camera.js";
import type { Frame } from "../camera/frame.js";
import { loadConfigFile, type LoadedConfig } from "../config/load.js";
import type { CameraConfig } from "../config/schema.js";
import { Agent } from "../controller.js";
import { Detector } from "../detect/detector.js";
import { detectorSizing } from "../detect/detector-sizing.js";
import { createLogger } from "../health/logger.js";
import { parse, UsageError } from "./args.js";

/**
 * Three runs over the same camera and model, one after another so they don't compete for cores:
 * ffmpeg decoding alone, the detector alone on one frame, and the whole pipeline. Files are read as fast
 * as possible and looped, so the figures are capacities, not the camera's configured rate.
 */
export async function bench(args: string[]): Promise<number> {
  const { values } = parse(args, {
    config: { type: "string", short: "c" },
    camera: { type: "string" },
    seconds: { type: "string" },
    json: { type: "boolean" },
  });
  if (!values.config) throw new UsageError("eva bench needs --config FILE");
  const loaded = loadConfigFile(values.config);
  const cams = Object.keys(loaded.config.cameras);
  const name = values.camera ?? cams[0];
  if (!name || !(name in loaded.config.cameras)) throw new UsageError(`no camera '${values.camera}' in ${values.config}; cameras: ${cams.join(", ")}`);
  const seconds = values.seconds === undefined ? 10 : Number(values.seconds);
  if (!(seconds > 0)) throw new UsageError(`--seconds must be a positive number`);
  const log = createLogger(process.env.EVA_LOG_LEVEL ?? "warn");
  const cam: CameraConfig = { ...loaded.config.cameras[name]!, realtime: false, loop: true, enabled: true };
  const modelCfg = loaded.config.models[cam.detect.model]!;

  const detector = await Detector.open({ name: cam.detect.model, model: modelCfg, providers: loaded.config.detector.providers, ...detectorSizing(loaded.config.detector, 1), logger: log });
  const width = cam.detect.width ?? detector.info.inputWidth;
  const height = cam.detect.height ?? detector.info.inputHeight;

  const frameCopy = new Uint8Array(width * height * 3);
  const decode = await measureDecode(name, cam, width, height, seconds, log, frameCopy);
  const infer = await measureInfer(detector, cam, frameCopy, width, height, seconds);
  await detector.close();
  const pipeline = await measurePipeline(loaded, name, cam, seconds, log);

  const result = {
    camera: name,
    model: cam.detect.model,
    provider: detector.provider,
    threads: loaded.config.detector.threads,
    detect_size: `${width}x${height}`,
    model_input: `${detector.info.inputWidth}x${detector.info.inputHeight}`,
    seconds,
    decode_fps: round(decode.fps),
    infer_fps: round(infer.fps),
    infer_ms_p50: round(infer.p50),
    infer_ms_p95: round(infer.p95),
    pipeline_fps: round(pipeline.fps),
    pipeline_skipped_fraction: round(pipeline.skippedFraction),
    efficiency: round(pipeline.fps / Math.min(decode.fps, infer.fps)),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(26)} ${v}\n`);
  return 0;
}

const round = (v: number) => Math.round(v * 100) / 100;

async function measureDecode(name: string, cam: CameraConfig, width: number, height: number, seconds: number, log: ReturnType<typeof createLogger>, keep: Uint8Array) {
  let frames = 0;
  let t0 = 0;
  let kept = false;
  const camera = new Camera(
    { name, source: cam.source, fps: cam.fps, width, height, loop: true, realtime: false, rtspTransport: cam.rtsp_transport, timeoutSeconds: cam.stall_seconds, stallSeconds: cam.stall_seconds, threads: 2 },
    (frame: Frame) => {
      if (!t0) t0 = performance.now();
      else frames++;
      if (!kept) {
        keep.set(frame.data);
        kept = true;
      }
      frame.release();
    },
    () => {},
    log,
  );
  camera.start();
  const deadline = Date.now() + seconds * 1000 + 15_000;
  while (Date.now() < deadline && (!t0 || performance.now() - t0 < seconds * 1000)) await sleep(100);
  const elapsed = t0 ? (performance.now() - t0) / 1000 : 0;
  await camera.stop();
  if (!frames) throw Object.assign(new Error(`camera '${name}' gave no frame: ${camera.current.reason ?? "unknown"}`), { code: "EVA_BENCH" });
  return { fps: frames / elapsed };
}

async function measureInfer(detector: Detector, cam: CameraConfig, data: Uint8Array, width: number, height: number, seconds: number) {
  const frame = { data, width, height };
  for (let i = 0; i < 3; i++) await detector.detect(frame, cam.detect); // warm-up
  const times: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    const t = performance.now();
    await detector.detect(frame, cam.detect);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
  return { fps: times.length / ((performance.now() - t0) / 1000), p50: at(0.5), p95: at(0.95) };
}

async function measurePipeline(loaded: LoadedConfig, name: string, cam: CameraConfig, seconds: number, log: ReturnType<typeof createLogger>) {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-bench-"));
  try {
    const config = structuredClone(loaded.config);
    config.cameras = { [name]: cam };
    config.storage = { db: path.join(dir, "bench.db"), snapshots: path.join(dir, "snapshots") };
    const agent = new Agent({ ...loaded, config }, log);
    await agent.start();
    // Let ffmpeg and the detector warm up before counting.
    await waitFor(() => (agent.figures()[name]?.processed ?? 0) > 2, 20_000);
    const a = agent.figures()[name]!;
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const b = agent.figures()[name]!;
    const elapsed = (performance.now() - t0) / 1000;
    await agent.stop(0);
    const framesIn = b.framesIn - a.framesIn;
    return { fps: (b.processed - a.processed) / elapsed, skippedFraction: framesIn ? (b.framesSkipped - a.framesSkipped) / framesIn : 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs: number) {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await sleep(50);
}
