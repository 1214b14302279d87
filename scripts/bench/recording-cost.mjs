#!/usr/bin/env node
// What recording costs a camera: the recorder's ffmpeg (stream copy into 1 s MPEG-TS segments, exactly as
// agent/camera/ffmpeg.ts starts it) on an H.264 stream read at its own speed, for 720p and 1080p. CPU is the
// ffmpeg's utime + stime from /proc/<pid>/stat over the measured window (not wall time, so a busy machine
// changes it little); disk is the segments' bytes per hour.
//
// usage: node scripts/bench/recording-cost.mjs [--seconds 60] [--fps 25] [--sizes 1280x720:2M,1920x1080:4M]
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const { startSegmentRecorder } = await import(path.join(repoRoot, "dist/agent/camera/ffmpeg.js"));

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    fps: { type: "string", default: "25" },
    sizes: { type: "string", default: "1280x720:2M,1920x1080:4M" },
  },
});
const seconds = Number(values.seconds);
const fps = Number(values.fps);
const ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
const dir = mkdtempSync(path.join(tmpdir(), "eva-rec-cost-"));

function cpuSeconds(pid) {
  // fields 14 and 15 (utime, stime) after the parenthesised command name
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / ticks;
}

try {
  for (const spec of values.sizes.split(",")) {
    const [size, bitrate] = spec.split(":");
    // A camera-like stream: H.264 at a fixed bit rate, a key frame every 2 s; testsrc2 moves everywhere.
    const clip = path.join(dir, `${size}.mp4`);
    execFileSync("ffmpeg", [
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=${size}:rate=${fps}`,
      "-t",
      "30",
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-b:v",
      bitrate,
      "-maxrate",
      bitrate,
      "-bufsize",
      bitrate,
      "-g",
      String(fps * 2),
      "-pix_fmt",
      "yuv420p",
      clip,
    ]);
    const segDir = path.join(dir, size);
    execFileSync("mkdir", ["-p", segDir]);
    let bytes = 0;
    let counting = false;
    const proc = startSegmentRecorder(
      { source: clip, loop: true, realtime: true, rtspTransport: "tcp", timeoutSeconds: 10, dir: segDir, prefix: "s", segmentSeconds: 1 },
      {
        onSegment: (s) => {
          if (counting) bytes += statSync(s.file).size;
          rmSync(s.file);
        },
        onStderr: (l) => process.stderr.write(`${l}\n`),
        onExit: () => {},
      },
    );
    await new Promise((r) => setTimeout(r, 5000)); // past ffmpeg's start
    const cpu0 = cpuSeconds(proc.pid);
    const t0 = performance.now();
    counting = true;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const cpu1 = cpuSeconds(proc.pid);
    const wall = (performance.now() - t0) / 1000;
    counting = false;
    await proc.finish(2000);
    const cpuPercent = ((cpu1 - cpu0) / wall) * 100;
    const mbPerHour = ((bytes / wall) * 3600) / 1e6;
    console.log(
      JSON.stringify({
        size,
        fps,
        bitrate,
        seconds: Math.round(wall),
        cpu_percent_of_one_core: Math.round(cpuPercent * 100) / 100,
        disk_mb_per_hour: Math.round(mbPerHour),
        load: loadavg()[0],
      }),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
