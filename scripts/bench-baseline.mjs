// The least a camera → detector loop can cost: ffmpeg scales and letterboxes straight to the model input, Node
// reads each frame and hands it to onnxruntime, nothing else (no decoding of boxes, no tracking, no events).
// `eva bench --baseline` runs it beside the agent, interleaved, and divides. Prints one JSON line.
// usage: node scripts/bench-baseline.mjs --model M.onnx --source CLIP --fps 5 --width W --height H
//          --resize letterbox|stretch [--pad 114] [--scale 1] [--threads 2] [--skip-frame nonref] [--seconds 8]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ort = createRequire(path.join(repoRoot, "package.json"))("onnxruntime-node");
const { values: a } = parseArgs({
  options: {
    model: { type: "string" },
    source: { type: "string" },
    fps: { type: "string", default: "5" },
    width: { type: "string" },
    height: { type: "string" },
    resize: { type: "string", default: "letterbox" },
    pad: { type: "string", default: "114" },
    scale: { type: "string", default: "1" },
    bgr: { type: "boolean", default: false },
    threads: { type: "string", default: "2" },
    "skip-frame": { type: "string", default: "none" },
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "5" },
  },
});

const session = await ort.InferenceSession.create(a.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const meta = session.inputMetadata[0];
const dims = meta.shape.map((d) => (typeof d === "number" ? d : 1));
const nchw = dims[1] === 3;
const [W, H] = nchw ? [dims[3], dims[2]] : [dims[2], dims[1]];
// The frame's detect size decides the letterbox content, as in the agent.
const fw = Number(a.width ?? W);
const fh = Number(a.height ?? H);
const s = Math.min(W / fw, H / fh);
const scaleTo =
  a.resize === "stretch"
    ? `scale=${W}:${H}`
    : `scale=${Math.round(fw * s)}:${Math.round(fh * s)}:flags=bilinear,pad=${W}:${H}:0:0:color=0x${Number(a.pad).toString(16).padStart(2, "0").repeat(3)}`;
const ff = spawn(
  "ffmpeg",
  [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-threads",
    a.threads,
    ...(a["skip-frame"] !== "none" ? ["-skip_frame", a["skip-frame"]] : []),
    "-stream_loop",
    "-1",
    "-i",
    a.source,
    "-an",
    "-filter_threads",
    "1",
    "-vf",
    `fps=${a.fps},${scaleTo}`,
    "-pix_fmt",
    "rgb24",
    "-f",
    "rawvideo",
    "-",
  ],
  { stdio: ["ignore", "pipe", "inherit"] },
);

const frameBytes = W * H * 3;
const frame = new Uint8Array(frameBytes);
const input = meta.type === "uint8" ? frame : new Float32Array(frameBytes);
const tensor = new ort.Tensor(meta.type, input, dims);
const feeds = { [session.inputNames[0]]: tensor };
const k = Number(a.scale);
const plane = W * H;
function convert() {
  if (input === frame) return;
  for (let p = 0, i = 0; p < plane; p++, i += 3) {
    const r = frame[i] * k,
      g = frame[i + 1] * k,
      b = frame[i + 2] * k;
    if (nchw) {
      input[a.bgr ? p + 2 * plane : p] = r;
      input[p + plane] = g;
      input[a.bgr ? p : p + 2 * plane] = b;
    } else {
      input[i] = a.bgr ? b : r;
      input[i + 1] = g;
      input[i + 2] = a.bgr ? r : b;
    }
  }
}

/** utime + stime of a process or thread, ms (clock ticks are 10 ms on Linux). */
const cpuMs = (stat) => {
  const f = readFileSync(stat, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const mainTid = process.pid;
let frames = 0,
  filled = 0,
  t0 = 0,
  start;
const warmupFrames = Number(a.warmup);
for await (const chunk of ff.stdout) {
  let pos = 0;
  while (pos < chunk.length) {
    const n = Math.min(frameBytes - filled, chunk.length - pos);
    frame.set(chunk.subarray(pos, pos + n), filled);
    filled += n;
    pos += n;
    if (filled < frameBytes) break;
    filled = 0;
    convert();
    await session.run(feeds);
    frames++;
    if (frames === warmupFrames) {
      t0 = performance.now();
      start = { self: cpuMs("/proc/self/stat"), main: cpuMs(`/proc/self/task/${mainTid}/stat`), ffmpeg: cpuMs(`/proc/${ff.pid}/stat`) };
    }
  }
  if (t0 && performance.now() - t0 >= Number(a.seconds) * 1000) break;
}
const end = { self: cpuMs("/proc/self/stat"), main: cpuMs(`/proc/self/task/${mainTid}/stat`), ffmpeg: cpuMs(`/proc/${ff.pid}/stat`) };
ff.kill("SIGKILL");
const n = frames - warmupFrames;
console.log(
  JSON.stringify({
    frames: n,
    seconds: (performance.now() - t0) / 1000,
    input: `${meta.type} [${dims}]`,
    ffmpegMs: end.ffmpeg - start.ffmpeg,
    mainMs: end.main - start.main,
    otherMs: end.self - start.self - (end.main - start.main),
  }),
);
process.exit(0);
