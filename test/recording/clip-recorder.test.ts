import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { recordSchema } from "../../agent/config/record-schema.js";
import type { EvaEvent, EventClip } from "../../agent/core/event.js";
import { ClipRecorder } from "../../agent/recording/clip-recorder.js";
import { SegmentRing } from "../../agent/recording/segment-ring.js";

const run = promisify(execFile);

/** 1 s between key frames (-g 10 at 10 fps), the interval a clip may start early by. */
const KEY_FRAME_S = 1;

async function testClip(dir: string): Promise<string> {
  const out = path.join(dir, "src.mp4");
  await run("ffmpeg", [
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=320x180:rate=10",
    "-t",
    "6",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "10",
    "-pix_fmt",
    "yuv420p",
    out,
  ]);
  return out;
}

async function probe(file: string): Promise<{ duration: number; start: number; frames: number }> {
  const { stdout } = await run("ffprobe", [
    "-v",
    "error",
    "-count_frames",
    "-show_entries",
    "format=duration,start_time:stream=nb_read_frames",
    "-of",
    "json",
    file,
  ]);
  const j = JSON.parse(stdout) as { format: { duration: string; start_time: string }; streams: Array<{ nb_read_frames: string }> };
  return { duration: Number(j.format.duration), start: Number(j.format.start_time), frames: Number(j.streams[0]!.nb_read_frames) };
}

const iso = (ms: number) => new Date(ms).toISOString();
const event = (id: string, startMs: number, endMs: number | null): EvaEvent => ({
  id,
  device: "d",
  camera: "cam",
  label: "person",
  start_time: iso(startMs),
  end_time: endMs === null ? null : iso(endMs),
  top_score: 0.9,
  box: [0, 0, 10, 10],
  snapshot: null,
});

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function waitFor<T>(get: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      const v = get();
      if (v !== undefined) {
        clearInterval(timer);
        resolve(v);
      } else if (Date.now() - started > timeoutMs) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 50);
  });
}

describe("segment ring", () => {
  it("plans a clip over the segments holding a span, and prunes only what no span needs", () => {
    const ring = new SegmentRing();
    for (let i = 0; i < 10; i++) ring.add({ file: `s${i}`, startMs: i * 2000, endMs: (i + 1) * 2000 });
    const plan = ring.plan({ fromMs: 3000, toMs: 9000 })!;
    expect(plan.segments.map((s) => s.file)).toEqual(["s1", "s2", "s3", "s4"]);
    // from the first segment's start (a key frame), 1 s before the span, to the span's end
    expect(plan.leadSeconds).toBe(1);
    expect(plan.durationSeconds).toBe(7);
    expect(ring.plan({ fromMs: 30_000, toMs: 40_000 })).toBeNull();
    const gone = ring.prune(14_000, [{ fromMs: 2500, toMs: 4500 }]);
    expect(gone.map((s) => s.file)).toEqual(["s0", "s3", "s4", "s5"]);
    expect(ring.all().map((s) => s.file)).toEqual(["s1", "s2", "s6", "s7", "s8", "s9"]);
  });
});

describe("event clips from a recorded stream (real ffmpeg)", () => {
  it("cuts pre-roll + event + post-roll into a faststart MP4 that plays, and prunes the ring", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-clips-"));
    const source = await testClip(dir);
    const clips: Array<{ ev: EvaEvent; clip: EventClip }> = [];
    const record = recordSchema.parse({ enabled: true, pre_seconds: 2, post_seconds: 1 });
    const rec = new ClipRecorder({
      camera: "cam",
      source,
      loop: true,
      realtime: true,
      rtspTransport: "tcp",
      timeoutSeconds: 5,
      record,
      dir: path.join(dir, "clips"),
      onClip: (ev, clip) => clips.push({ ev, clip }),
      log: pino({ level: "silent" }),
    });
    await rec.start();
    try {
      const segments = () => readdirSync(rec.segmentsDir).filter((f) => f.endsWith(".ts"));
      // Enough recorded for the pre-roll: the event starts now, its clip 2 s before.
      await waitFor(() => (segments().length >= 3 ? true : undefined), "three segments");
      const start = Date.now();
      rec.observe("new", event("e1", start, null));
      await waitFor(() => (Date.now() - start >= 2500 ? true : undefined), "the event to last 2.5 s");
      const end = Date.now() - 500;
      rec.observe("end", event("e1", start, end));
      const { clip } = await waitFor(() => clips[0], "the clip");
      const want = (end - start) / 1000 + record.pre_seconds + record.post_seconds;
      expect(clip.path).toBe(path.join(dir, "clips", "cam", "e1.mp4"));
      expect(existsSync(clip.path)).toBe(true);
      const p = await probe(clip.path);
      // Covers the span; it may start at the key frame before it, never more than one interval early. Frames are
      // counted too: a container's duration alone would hide a clip that starts late.
      expect(p.duration).toBeGreaterThanOrEqual(want - 0.15);
      expect(p.duration).toBeLessThanOrEqual(want + KEY_FRAME_S + 0.15);
      expect(p.start).toBe(0);
      expect(Math.abs(p.frames - p.duration * 10)).toBeLessThanOrEqual(1);
      expect(clip.duration_seconds).toBeCloseTo(p.duration, 2);
      // faststart: the index comes before the media, so a browser plays while it loads
      const bytes = readFileSync(clip.path);
      expect(clip.bytes).toBe(bytes.length);
      expect(bytes.indexOf("moov")).toBeGreaterThan(0);
      expect(bytes.indexOf("moov")).toBeLessThan(bytes.indexOf("mdat"));
      await run("ffmpeg", ["-v", "error", "-xerror", "-i", clip.path, "-f", "null", "-"]);
      // No event open and nothing to cut: the ring keeps only about the pre-roll (2 s + two 1 s segments' slack).
      await waitFor(() => (segments().length <= 5 ? true : undefined), "the ring to be pruned");
    } finally {
      await rec.stop();
    }
    expect(existsSync(rec.segmentsDir)).toBe(false);
  });
});
