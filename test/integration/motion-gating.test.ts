import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { CameraFigures } from "../../agent/controller.js";
import { lineCounts } from "../../agent/records/line-totals.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, logLines, writeTestConfig } from "../support/agent.js";
import { fileBroker } from "../support/broker.js";
import { HIDDEN, spriteClip } from "../support/sprite-clips.js";

// A real clip with still and moving parts, through the whole agent twice — gating on and off — with the real
// detector: gating must hold back most still frames and change no decision. The clip is read with backpressure
// (realtime: false): every frame is decided on and dated by its place in the clip, so the counts below do not
// depend on how busy the machine is, and a run takes the detector's time, not the clip's 20 s.

const broker = await fileBroker();

// A slow walker at 5 fps: 8 px a frame, well under its 44 px width (the tracker must not lose it in either run
// for the comparison to mean anything). FastestDet: a third of YOLOX-Nano's CPU a frame.
const FPS = 5;

async function runGated(device: string, clip: string, motion: string) {
  const line = `    lines: {door: {points: [[320, 0], [320, 360]]}}\n    motion: ${motion}\n`;
  const { file, dir } = writeTestConfig({
    brokerUrl: broker.url,
    deviceId: device,
    model: "fastestdet",
    cameras: { cam: { source: clip, fps: FPS, realtime: false, extra: line } },
  });
  // Tracks live 4 s unseen, so the keep-alive looks (every 2 s) keep a still person's track; still after 2 s.
  writeFileSync(file, readFileSync(file, "utf8").replace("end_after_seconds: 1,", "end_after_seconds: 4, stationary_seconds: 2,"));
  const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 90_000 });
  expect(run.code, run.stderr.slice(-3000)).toBe(0);
  const stopped = logLines(run.stderr).find((l) => l.msg === "eva stopped") as { figures: Record<string, CameraFigures> } | undefined;
  const figures = stopped!.figures.cam!;
  const store = new EventStore(path.join(dir, "eva.db"));
  const events = store.queryEvents({ camera: "cam" });
  const counts = store.inTransaction("counts", (db) => lineCounts(db, "cam", "door"));
  store.close();
  return { figures, events, counts };
}

describe("motion gating on a real clip", () => {
  // two whole runs of the agent, each allowed 90 s on a loaded machine
  it("holds back the still frames and keeps every event and crossing an ungated run finds", { timeout: 200_000 }, async () => {
    // Empty for 4 s, a person walks across the line (4–10 s), then stands still until the end (20 s).
    const clip = await spriteClip(
      "gating-v3",
      20,
      [
        [
          [0, HIDDEN, 0],
          [3.99, HIDDEN, 0],
          [4, 200, 300],
          [10, 440, 300],
          [20, 440, 300],
        ],
      ],
      FPS,
    );
    const gated = await runGated("dev-gated", clip, "{enabled: true}");
    const ungated = await runGated("dev-ungated", clip, "{enabled: false}");

    expect(ungated.figures.gated).toBe(0);
    expect(ungated.events).toHaveLength(1);
    expect(ungated.counts).toMatchObject({ in: 0, out: 1 });
    // The same decisions with gating on.
    expect(gated.events).toHaveLength(1);
    expect(gated.events[0]!.label).toBe("person");
    expect(gated.counts).toEqual(ungated.counts);

    const f = gated.figures;
    expect(f.processed + f.gated + f.framesSkipped).toBeLessThanOrEqual(f.framesIn);
    // Still: 0–4 s (empty) and from ~15 s (the standing person has faded into the background and its track is
    // stationary) — about 40 of 100 frames; every 2 s one goes through as a keep-alive. A gate that holds back
    // nothing, or everything, fails here.
    expect(f.gated / f.framesIn).toBeGreaterThan(0.3);
    expect(f.processed / f.framesIn).toBeGreaterThan(0.25);
  });
});
