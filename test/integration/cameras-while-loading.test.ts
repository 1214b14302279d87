import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { Agent } from "../../agent/controller.js";
import { Detector } from "../../agent/detect/detector.js";
import { fileBroker } from "../support/broker.js";
import { personPanClip } from "../support/clips.js";
import { agentConfigText, loadText } from "../support/in-process-agent.js";

// Issue 13: cameras start while models load (on a Jetson a TensorRT build takes minutes). The model's session
// is held back here until the test lets it open; everything else is real: ffmpeg on a clip, YOLOX-Nano,
// mosquitto, SQLite.

const broker = await fileBroker();

async function until(what: string, ok: () => boolean, timeoutMs = 60_000, seen: () => unknown = () => ""): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; ${JSON.stringify(seen())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("cameras while the model loads", () => {
  it("a live camera is online with a live view and queues nothing; a file read frame by frame waits and loses no frame", async () => {
    const clip = await personPanClip(5, 3, 10);
    const dir = mkdtempSync(path.join(tmpdir(), "eva-loading-"));
    const text = agentConfigText({
      brokerUrl: broker.url,
      camera: `    source: ${clip}
    realtime: true
    loop: true
    fps: 10
    detect: {model: coco, width: 320, height: 192, labels: [person]}
  batch:
    source: ${clip}
    realtime: false
    fps: 10
    motion: {enabled: false}
    detect: {model: coco, width: 320, height: 192, labels: [person]}`,
    });
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, text);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let opens = 0;
    const agent = new Agent(await loadText(text, file), pino({ level: process.env.EVA_TEST_LOG ?? "silent" }), {
      openDetector: async (o) => {
        opens++;
        await gate;
        return Detector.open(o);
      },
    });
    const started = agent.start();
    try {
      const fig = () => agent.figures();
      const state = (c: string) => agent.cameraStatuses().find((s) => s.camera === c)?.state;
      await until("the live camera online, showing frames it does not analyse", () => state("a") === "online" && (fig().a?.waiting ?? 0) >= 10);
      expect(opens).toBe(1);
      const live = await agent["cameras"].get("a")!.liveJpeg(10_000);
      expect(live.jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
      expect(live.detections).toBeNull();
      expect(agent.healthReport().reasons.join("\n")).toContain("camera a waiting for model coco to load");
      const held = fig();
      expect([held.a!.processed, held.batch!.processed, held.batch!.framesSkipped, held.batch!.waiting]).toEqual([0, 0, 0, 0]);

      release();
      await started;
      await until(
        "the file camera at its end with every frame analysed",
        () => state("batch") === "ended" && fig().batch!.processed === fig().batch!.framesIn,
        120_000,
        () => [agent.cameraStatuses(), fig()],
      );
      const done = fig();
      expect(done.batch!.framesIn).toBeGreaterThanOrEqual(70); // 8 s at 10 fps, all of it
      expect(done.batch!.framesSkipped).toBe(0);
      await until("the live camera analysing", () => fig().a!.processed > 0);
      expect(agent.healthReport().reasons.join("\n")).not.toContain("waiting for model");
    } finally {
      release();
      await started.catch(() => {});
      await agent.stop(0);
    }
  }, 180_000);
});
