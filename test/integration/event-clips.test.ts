import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { eventMessageSchema } from "../../agent/records/events.js";
import { eva } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { launchChromium } from "../support/browser.js";
import { personPanClip } from "../support/clips.js";
import { agentConfigText, startAgent } from "../support/in-process-agent.js";
import { MessageCollector } from "../support/mqtt.js";
import { freePort } from "../support/ports.js";

// Event clips end to end: a looping clip as a live camera, real ffmpeg recording and cutting, YOLOX-Nano, mosquitto,
// SQLite, the console's HTTP routes and chromium playing the clip from the event list.

const run = promisify(execFile);
const broker = await fileBroker();
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await broker.stop();
});

/** The test clip has a key frame every 1 s (-g 10 at 10 fps): a clip may start that much before its pre-roll. */
const KEY_FRAME_S = 1;
const PRE = 1;
const POST = 1;

type EventMessage = { type: string; event: EvaEvent; revision: number };

describe("event clips", () => {
  it("an ended event's clip covers pre-roll + event + post-roll, is announced on MQTT, listed, served with ranges and plays in the console", {
    timeout: 150_000,
  }, async () => {
    const clip = await personPanClip(5, 3);
    const port = await freePort();
    const text = agentConfigText({
      brokerUrl: broker.url,
      extraTop: `health: {port: ${port}}\n`,
      camera: `    source: ${clip}
    fps: 5
    loop: true
    detect: {model: coco, width: 640, height: 360, labels: [person], min_score: 0.4}
    events: {min_frames: 2, end_after_seconds: 1, update_interval_seconds: 1}
    record: {enabled: true, pre_seconds: ${PRE}, post_seconds: ${POST}}`,
    }).replace("snapshots: snapshots}", "snapshots: snapshots, clips: clips}");
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-p/events");
    const agent = await startAgent(text);
    const messages = () => sub.on("eva/dev-p/events").map((m) => JSON.parse(m.payload) as EventMessage);
    try {
      // The second pass's event: the first starts with the file, before anything was recorded for its pre-roll.
      const withClip = () => messages().filter((m) => m.type === "update" && m.event.clip);
      await sub.until(() => withClip().length >= 2, 90_000, "two events' clips");
      const m = withClip()[1]!;
      const ev = m.event;
      const clipInfo = ev.clip!;
      for (const x of messages()) expect(eventMessageSchema.safeParse(x).success).toBe(true);
      // Its end went out before, saying there was no clip yet; the clip comes with a higher revision.
      const end = messages().find((x) => x.type === "end" && x.event.id === ev.id)!;
      expect(end.event.clip).toBeNull();
      expect(m.revision).toBeGreaterThan(end.revision);
      expect(ev.end_time).toBe(end.event.end_time);
      expect(messages().every((x) => !x.event.clip || existsSync(x.event.clip.path))).toBe(true);

      const want = (Date.parse(ev.end_time!) - Date.parse(ev.start_time)) / 1000 + PRE + POST;
      const { stdout } = await run("ffprobe", [
        "-v",
        "error",
        "-count_frames",
        "-show_entries",
        "format=duration,start_time:stream=codec_name,nb_read_frames",
        "-of",
        "json",
        clipInfo.path,
      ]);
      const probe = JSON.parse(stdout) as { format: { duration: string; start_time: string }; streams: Array<{ codec_name: string; nb_read_frames: string }> };
      const duration = Number(probe.format.duration);
      expect(probe.streams[0]!.codec_name).toBe("h264");
      // Frames dated by their arrival and segments by their close: a few frames' leeway on either side.
      expect(duration).toBeGreaterThanOrEqual(want - 0.3);
      expect(duration).toBeLessThanOrEqual(want + KEY_FRAME_S + 0.3);
      expect(Math.abs(Number(probe.streams[0]!.nb_read_frames) - duration * 10)).toBeLessThanOrEqual(1);
      expect(clipInfo.duration_seconds).toBeCloseTo(duration, 2);
      const bytes = readFileSync(clipInfo.path);
      expect(clipInfo.bytes).toBe(bytes.length);
      expect(bytes.indexOf("moov")).toBeLessThan(bytes.indexOf("mdat"));

      // The console lists it with a URL under /clips/ and serves it whole and in ranges.
      const base = `http://127.0.0.1:${port}`;
      const listed = (await (await fetch(`${base}/api/events?limit=50`)).json()) as { records: Array<EvaEvent & { clip_url?: string | null }> };
      const row = listed.records.find((r) => r.id === ev.id)!;
      expect(row.clip_url).toBe(`/clips/a/${ev.id}.mp4`);
      const whole = await fetch(`${base}${row.clip_url}`);
      expect(whole.status).toBe(200);
      expect(whole.headers.get("content-type")).toBe("video/mp4");
      expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
      const part = await fetch(`${base}${row.clip_url}`, { headers: { range: "bytes=100-199" } });
      expect(part.status).toBe(206);
      expect(part.headers.get("content-range")).toBe(`bytes 100-199/${bytes.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);
      // never the segments, never outside the folder
      expect((await fetch(`${base}/clips/a/segments/x.ts`)).status).toBe(404);
      expect((await fetch(`${base}/clips/..%2F..%2Feva.db`)).status).toBeGreaterThanOrEqual(400);

      // The event list in chromium plays it.
      const page = await browser.newPage();
      try {
        await page.goto(`${base}/console/`);
        const video = page.locator(`tr[data-id="${ev.id}"] video`);
        await video.waitFor({ timeout: 30_000 });
        // the page's video element (the tests' types have no DOM)
        type Video = { muted: boolean; play(): Promise<void>; currentTime: number; videoWidth: number; error: { message: string } | null };
        const played = await video.evaluate(async (el) => {
          const v = el as unknown as Video;
          v.muted = true;
          await v.play();
          await new Promise((r) => setTimeout(r, 1500));
          return { time: v.currentTime, width: v.videoWidth, error: v.error?.message ?? null };
        });
        expect(played.error).toBeNull();
        expect(played.width).toBe(640);
        expect(played.time).toBeGreaterThan(0.3);
      } finally {
        await page.close();
      }
    } finally {
      await agent.stop();
      await sub.close();
    }
    // eva events shows the clip with the event
    const listed = await eva(["events", "--db", path.join(agent.dir, "eva.db"), "--json"]);
    const rows = JSON.parse(listed.stdout) as EvaEvent[];
    expect(rows.filter((r) => r.clip).length).toBeGreaterThanOrEqual(2);
    for (const r of rows.filter((x) => x.clip)) expect(existsSync(r.clip!.path)).toBe(true);
  });
});
