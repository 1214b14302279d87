// What a larger delivered frame costs per frame: the camera stage (ffmpeg decode + scale + rgb24, the pipe
// into the frame pool) and the detector (fitting the frame to the model's input in the worker, then run()),
// for a few detect sizes over the same clip, in one run. CPU ms per frame from /proc (utime + stime of the
// ffmpeg child and of this process's threads), not wall time.
//
// usage: node scripts/bench/frame-cost.mjs CLIP --detector FILE.onnx [--sizes 512x288,816x480,1360x800] [--frames 100]
import { readdirSync, readFileSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import pino from "pino";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const dist = (p) => path.join(repoRoot, "dist/agent", p);
const { Camera } = await import(dist("camera/camera.js"));
const { Detector } = await import(dist("detect/detector.js"));

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { detector: { type: "string" }, sizes: { type: "string", default: "512x288,816x480,1360x800" }, frames: { type: "string", default: "100" } },
});
const clip = positionals[0];
if (!clip || !values.detector) {
  console.error("usage: node scripts/bench/frame-cost.mjs CLIP --detector FILE.onnx [--sizes WxH,...] [--frames N]");
  process.exit(2);
}
const frames = Number(values.frames);
const sizes = values.sizes.split(",").map((s) => s.split("x").map(Number));
const TICK_MS = 1000 / 100; // USER_HZ

/** utime + stime (ms) of a /proc stat line; the comm field may hold spaces, so fields count from its ')' */
function cpuMs(statPath) {
  try {
    const s = readFileSync(statPath, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return 0;
  }
}
function childrenCpuMs() {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) total += cpuMs(`/proc/${pid}/stat`);
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
const selfCpuMs = () => cpuMs("/proc/self/stat");

const detector = await Detector.open({ name: "signs", model: { path: path.resolve(values.detector) }, providers: ["cpu"], threads: 1 });
const log = pino({ level: "warn" });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
for (const [width, height] of sizes) {
  let n = 0;
  const run = [];
  let ffmpegStart = 0;
  let selfStart = 0;
  let ffmpegEnd = 0;
  let selfEnd = 0;
  let done;
  const finished = new Promise((r) => (done = r));
  const camera = new Camera(
    {
      name: "cost",
      source: clip,
      fps: 1000,
      width,
      height,
      loop: true,
      realtime: false,
      rtspTransport: "tcp",
      timeoutSeconds: 20,
      stallSeconds: 20,
      threads: 1,
    },
    (frame) => {
      // The first frames carry ffmpeg's start-up and the model's first runs: counting starts at frame 5.
      if (n === 5) {
        ffmpegStart = childrenCpuMs();
        selfStart = selfCpuMs();
      }
      detector.detect(frame, { min_score: 0.3, nms_iou: 0.45 }).then((r) => {
        if (n >= 5) run.push(r.inferMs);
        n++;
        if (n === frames + 5) {
          ffmpegEnd = childrenCpuMs();
          selfEnd = selfCpuMs();
          done();
        }
        frame.release();
      });
    },
    () => {},
    log,
  );
  camera.start();
  await finished;
  await camera.stop();
  rows.push({
    size: `${width}x${height}`,
    bytes_per_frame: width * height * 3,
    ffmpeg_cpu_ms: (ffmpegEnd - ffmpegStart) / frames,
    agent_cpu_ms: (selfEnd - selfStart) / frames,
    run_ms_median: median(run),
  });
}
await detector.close();
console.log(
  `${path.basename(clip)} → ${path.basename(values.detector)} (${detector.info.inputWidth}x${detector.info.inputHeight}), ${frames} frames per size, load average ${loadavg()[0].toFixed(2)}`,
);
console.log("detect size   MB/frame  ffmpeg CPU ms  agent CPU ms (pipe + fit + run)  run() median ms  total CPU ms");
for (const r of rows) {
  console.log(
    `${r.size.padEnd(12)}  ${(r.bytes_per_frame / 1e6).toFixed(2).padStart(8)}  ${r.ffmpeg_cpu_ms.toFixed(1).padStart(13)}  ${r.agent_cpu_ms.toFixed(1).padStart(31)}  ${r.run_ms_median.toFixed(1).padStart(15)}  ${(r.ffmpeg_cpu_ms + r.agent_cpu_ms).toFixed(1).padStart(12)}`,
  );
}
