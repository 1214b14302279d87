import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CrossingMessage } from "../../agent/events/crossing-store.js";
import type { EvaEvent } from "../../agent/events/event.js";
import { CrossingStore } from "../../agent/events/crossing-store.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { TestBroker } from "../support/broker.js";
import { MessageCollector, type Received } from "../support/mqtt.js";
import { HIDDEN, spriteClip } from "../support/sprite-clips.js";

// Real clips, real detector, real broker: a person sprite walks scripted paths over grey at 5 fps, so every
// expected count below follows from the script. Positions are the sprite's feet (bottom-centre).

// 10 fps keeps a walker's step between frames well under its width, so boxes of one walker overlap frame to frame.
const FPS = 10;

let broker: TestBroker;
beforeAll(async () => {
  broker = await TestBroker.start();
});
afterAll(async () => {
  await broker.dispose();
});

const payloads = <T>(msgs: Received[], topic: string): T[] => msgs.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as T);

async function runClip(device: string, clip: string, extra: string) {
  const { file, dir } = writeTestConfig({ brokerUrl: broker.url, deviceId: device, cameras: { cam: { source: clip, fps: FPS, extra } } });
  const sub = await MessageCollector.subscribe(broker.url, `eva/${device}/#`);
  const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 60_000 });
  expect(run.code, run.stderr).toBe(0);
  return { sub, dir, stderr: run.stderr };
}

describe("tracks, lines and zones on real clips", () => {
  it("counts line crossings exactly: both directions, a stop on the line that turns back, two crossing together", async () => {
    // The line runs down the picture at x = 320, drawn top to bottom: right-to-left is "in".
    const clip = await spriteClip("lines-v1", 17, [
      // one walker: out (left→right), pause, in (right→left), pause, up to the line, stands on it, turns back
      [[0, 120, 300], [3, 520, 300], [4, 520, 300], [7, 120, 300], [8, 120, 300], [10, 320, 300], [12, 320, 300], [14, 120, 300], [14.01, HIDDEN, 0]],
      // two walkers crossing together right→left, one above the other
      [[0, HIDDEN, 0], [13.99, HIDDEN, 0], [14, 540, 170], [16.5, 100, 170]],
      [[0, HIDDEN, 0], [13.99, HIDDEN, 0], [14, 540, 345], [16.5, 100, 345]],
    ], FPS);
    const { sub, dir } = await runClip("dev-lines", clip, "    lines:\n      door: {points: [[320, 0], [320, 360]], hysteresis_px: 15}\n");
    const msgs = await sub.until((m) => m.filter((x) => x.topic === "eva/dev-lines/events").some((x) => x.payload.includes('"end"')), 10_000, "events");
    await new Promise((r) => setTimeout(r, 500));
    await sub.close();

    const crossings = payloads<CrossingMessage>(msgs, "eva/dev-lines/crossings");
    expect(crossings.map((c) => c.direction)).toEqual(["out", "in", "in", "in"]);
    expect(crossings.at(-1)!.counts).toEqual({ in: 3, out: 1 });
    expect(crossings.every((c) => c.line === "door" && c.label === "person" && c.camera === "cam")).toBe(true);
    // the two walking together are two tracks
    expect(new Set(crossings.slice(2).map((c) => c.track_id)).size).toBe(2);

    const store = new EventStore(path.join(dir, "eva.db"));
    expect(new CrossingStore(store).counts("cam", "door")).toEqual({ in: 3, out: 1 });
    const events = store.queryEvents({ camera: "cam" });
    store.close();
    // the walker who stops and starts three times is one event; the pair are two more
    expect(events).toHaveLength(3);
    const first = events[0]!;
    expect(Date.parse(first.end_time!) - Date.parse(first.start_time)).toBeGreaterThan(12_000);
    expect(first.track_id).toBe(crossings[0]!.track_id);
  });
});
