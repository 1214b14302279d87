import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker } from "../support/broker.js";
import { MessageCollector } from "../support/mqtt.js";
import { spriteClip } from "../support/sprite-clips.js";

const broker = await fileBroker();

describe("live reload of analytics", () => {
  it("a counting line added to a running camera counts from the next crossing, without restarting its ffmpeg", async () => {
    // A walker goes left → right and back, over and over (the clip loops).
    const clip = await spriteClip(
      "pace-v1",
      6,
      [
        [
          [0, 120, 300],
          [3, 520, 300],
          [6, 120, 300],
        ],
      ],
      10,
    );
    const { file } = writeTestConfig({ brokerUrl: broker.url, deviceId: "dev-live", cameras: { cam: { source: clip, fps: 10, extra: "    loop: true\n" } } });
    const sub = await MessageCollector.subscribe(broker.url, "eva/dev-live/#");
    let kill: (s: NodeJS.Signals) => void = () => {};
    const running = eva(["run", "--config", file], { timeoutMs: 90_000, onSpawn: (k) => (kill = k) });
    try {
      await sub.until((m) => m.some((x) => x.topic === "eva/dev-live/events"), 30_000, "a first event");
      expect(sub.on("eva/dev-live/crossings")).toEqual([]);

      writeFileSync(file, `${readFileSync(file, "utf8")}    lines:\n      middle: {points: [[320, 0], [320, 360]]}\n`);
      const reports = await sub.until((m) => m.some((x) => x.topic === "eva/dev-live/config"), 15_000, "a config report");
      const report = JSON.parse(reports.find((x) => x.topic === "eva/dev-live/config")!.payload) as { result: string; changed: string[] };
      expect(report).toMatchObject({ result: "applied", changed: ["cameras.cam.lines.middle"] });

      const got = await sub.until((m) => m.filter((x) => x.topic === "eva/dev-live/crossings").length >= 2, 20_000, "two crossings");
      const crossings = got.filter((x) => x.topic === "eva/dev-live/crossings").map((x) => JSON.parse(x.payload) as { line: string; direction: string });
      expect(crossings.every((c) => c.line === "middle")).toBe(true);
      expect(new Set(crossings.map((c) => c.direction))).toEqual(new Set(["in", "out"]));
    } finally {
      kill("SIGTERM");
    }
    const result = await running;
    // every message, the config report and the crossings included, matches the AsyncAPI document
    expect(sub.messages.flatMap((m) => checkPublished("eva/dev-live", m.topic, m.payload)).slice(0, 10)).toEqual([]);
    await sub.close();
    expect(result.code, result.stderr).toBe(0);
    // ffmpeg was never restarted: the camera came online once
    expect(logLines(result.stderr).filter((l) => l.msg === "camera online")).toHaveLength(1);
  });
});
