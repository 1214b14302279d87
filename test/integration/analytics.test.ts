import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { CrossingMessage } from "../../agent/records/crossings.js";
import type { EvaEvent } from "../../agent/core/event.js";
import { lineCounts } from "../../agent/records/line-totals.js";
import { EventStore } from "../../agent/events/store.js";
import { eva, writeTestConfig } from "../support/agent.js";
import { checkPublished } from "../support/api-schemas.js";
import { fileBroker } from "../support/broker.js";
import { MessageCollector, retained, type Received } from "../support/mqtt.js";
import type { SignSighting } from "../../agent/analytics/sign-sightings.js";
import { SignStore } from "../../agent/events/sign-store.js";
import { HIDDEN, spriteClip, stopSign, twoWalkersClip } from "../support/sprite-clips.js";

// Real clips, real detector, real broker: a person sprite walks scripted paths over grey at 5 fps, so every
// expected count below follows from the script. Positions are the sprite's feet (bottom-centre).

// Clips are read with backpressure (realtime: false): every frame is analysed and dated by its place in the
// clip, so the counts do not depend on how fast the machine is (they did: 2 crossings of 4 at load 9–13).
// 10 fps keeps a walker's step between frames well under its width, so boxes of one walker overlap frame to frame.
const FPS = 10;

const broker = await fileBroker();

const payloads = <T>(msgs: Received[], topic: string): T[] => msgs.filter((m) => m.topic === topic).map((m) => JSON.parse(m.payload) as T);

async function runClip(device: string, clip: string, extra: string, events = "", labels?: string[]) {
  const { file, dir } = writeTestConfig({
    brokerUrl: broker.url,
    deviceId: device,
    cameras: { cam: { source: clip, fps: FPS, extra, realtime: false, ...(labels ? { labels } : {}) } },
  });
  if (events) writeFileSync(file, readFileSync(file, "utf8").replace("events: {min_frames: 2,", `events: {${events}, min_frames: 2,`));
  const sub = await MessageCollector.subscribe(broker.url, `eva/${device}/#`);
  const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
  expect(run.code, run.stderr).toBe(0);
  // `stopped` is the agent's last message, sent after its outbox drained: everything before it has arrived.
  await sub.until((m) => m.some((x) => x.topic === `eva/${device}/status` && x.payload === "stopped"), 30_000, "the agent's last message");
  return { sub, dir, stderr: run.stderr };
}

/** Every message the agent published must match the AsyncAPI document's schema for its topic. */
async function closeChecked(sub: MessageCollector): Promise<void> {
  const problems = sub.messages.flatMap((m) => {
    const base = m.topic.split("/").slice(0, 2).join("/");
    return checkPublished(base, m.topic, m.payload);
  });
  await sub.close();
  expect(problems.slice(0, 10)).toEqual([]);
}

// Every frame of a clip goes through the detector: on a loaded machine that takes longer, not differently.
describe("tracks, lines and zones on real clips", { timeout: 240_000 }, () => {
  it("counts line crossings exactly: both directions, a stop on the line that turns back, two crossing together; totals survive a restart", async () => {
    // The line runs down the picture at x = 320, drawn top to bottom: right-to-left is "in".
    const clip = await spriteClip(
      "lines-v1",
      17,
      [
        // one walker: out (left→right), pause, in (right→left), pause, up to the line, stands on it, turns back
        [
          [0, 120, 300],
          [3, 520, 300],
          [4, 520, 300],
          [7, 120, 300],
          [8, 120, 300],
          [10, 320, 300],
          [12, 320, 300],
          [14, 120, 300],
          [14.01, HIDDEN, 0],
        ],
        // two walkers crossing together right→left, one above the other
        [
          [0, HIDDEN, 0],
          [13.99, HIDDEN, 0],
          [14, 540, 170],
          [16.5, 100, 170],
        ],
        [
          [0, HIDDEN, 0],
          [13.99, HIDDEN, 0],
          [14, 540, 345],
          [16.5, 100, 345],
        ],
      ],
      FPS,
    );
    const { sub, dir } = await runClip("dev-lines", clip, "    lines:\n      door: {points: [[320, 0], [320, 360]], hysteresis_px: 15}\n");
    const msgs = await sub.until((m) => m.filter((x) => x.topic === "eva/dev-lines/events").some((x) => x.payload.includes('"end"')), 30_000, "events");
    await closeChecked(sub);

    const crossings = payloads<CrossingMessage>(msgs, "eva/dev-lines/crossings");
    expect(crossings.map((c) => c.direction)).toEqual(["out", "in", "in", "in"]);
    expect(crossings.at(-1)!.counts).toEqual({ in: 3, out: 1 });
    expect(crossings.every((c) => c.line === "door" && c.label === "person" && c.camera === "cam")).toBe(true);
    // the two walking together are two tracks
    expect(new Set(crossings.slice(2).map((c) => c.track_id)).size).toBe(2);

    const store = new EventStore(path.join(dir, "eva.db"));
    expect(store.inTransaction("counts", (db) => lineCounts(db, "cam", "door"))).toEqual({ in: 3, out: 1 });
    const events = store.queryEvents({ camera: "cam" });
    store.close();
    // the walker who stops and starts three times is one event; the pair are two more
    expect(events).toHaveLength(3);
    const first = events[0]!;
    expect(Date.parse(first.end_time!) - Date.parse(first.start_time)).toBeGreaterThan(12_000);
    expect(first.track_id).toBe(crossings[0]!.track_id);

    // Restart on the same database: the totals carry on from where they were.
    const again = await spriteClip(
      "lines-restart-v1",
      4,
      [
        [
          [0, 480, 300],
          [3, 160, 300],
        ],
      ],
      FPS,
    );
    const file = path.join(dir, "eva.yaml");
    writeFileSync(file, readFileSync(file, "utf8").replace(clip, again));
    const sub2 = await MessageCollector.subscribe(broker.url, "eva/dev-lines/crossings");
    const run = await eva(["run", "--config", file, "--exit-on-eof"], { timeoutMs: 120_000 });
    expect(run.code, run.stderr).toBe(0);
    const after = await sub2.until((m) => m.length >= 1, 30_000, "a crossing after the restart");
    await closeChecked(sub2);
    expect(after.map((m) => (JSON.parse(m.payload) as CrossingMessage).counts)).toEqual([{ in: 4, out: 1 }]);
  });

  it("zones: occupancy 0→1→2→1→0 retained, loitering once per stay, overcrowding raised and cleared", async () => {
    // The zone is the right half of the floor. A walks in and stays about 8 s; B comes in from the right edge
    // and leaves the way it came, in the zone about 3.5 s counting the tracker's second of grace (under
    // loiter_seconds); then A walks out.
    const clip = await twoWalkersClip(FPS);
    const zone = "    zones:\n      floor: {points: [[320, 200], [640, 200], [640, 360], [320, 360]], loiter_seconds: 5, max_objects: 1}\n";
    const { sub, dir } = await runClip("dev-zones", clip, zone);
    const msgs = await sub.until(
      (m) => m.filter((x) => x.topic === "eva/dev-zones/events").filter((x) => x.payload.includes('"end"')).length >= 2,
      30_000,
      "two event ends",
    );
    await closeChecked(sub);

    const occupancy = payloads<{ zone: string; camera: string; counts: Record<string, number>; total: number; id: string; device: string; revision: number }>(
      msgs,
      "eva/dev-zones/occupancy/cam/floor",
    );
    expect(occupancy.map((o) => o.total)).toEqual([0, 1, 2, 1, 0]);
    expect(occupancy[2]).toMatchObject({ zone: "floor", camera: "cam", counts: { person: 2 }, total: 2, device: "dev-zones" });
    // each change is its own record (unique id) and a later revision of the zone's state
    expect(new Set(occupancy.map((o) => o.id)).size).toBe(5);
    expect(occupancy.map((o) => o.revision)).toEqual([1, 2, 3, 4, 5]);

    const alarms = payloads<{ type: string; state: string; zone: string; track_id?: number }>(msgs, "eva/dev-zones/alarms");
    const loitering = alarms.filter((a) => a.type === "loitering");
    expect(loitering.map((a) => a.state)).toEqual(["raised", "cleared"]);
    expect(alarms.filter((a) => a.type === "overcrowding").map((a) => a.state)).toEqual(["raised", "cleared"]);

    const store = new EventStore(path.join(dir, "eva.db"));
    const events = store.queryEvents({ camera: "cam" });
    store.close();
    expect(events).toHaveLength(2);
    const a = events.find((e) => e.track_id === loitering[0]!.track_id)!;
    expect(a.entered_zones).toEqual(["floor"]);
    expect(a.current_zones).toEqual([]);
    // the retained message a late subscriber gets is the last state
    expect(JSON.parse((await retained(broker.url, "eva/dev-zones/occupancy/cam/floor"))!)).toEqual(occupancy.at(-1));
    expect(occupancy.at(-1)).toMatchObject({ zone: "floor", camera: "cam", counts: {}, total: 0 });
  });

  it("stationary: end — a parked object's event ends once, it does not re-trigger while parked, and driving off is a new event", async () => {
    const clip = await spriteClip(
      "parked-v1",
      10,
      [
        [
          [0, 80, 300],
          [2, 300, 300],
          [7, 300, 300],
          [9, 80, 300],
        ],
      ],
      FPS,
    );
    const { sub, dir } = await runClip("dev-parked", clip, "", "stationary: end, stationary_seconds: 2");
    await closeChecked(sub);
    const store = new EventStore(path.join(dir, "eva.db"));
    const events = store.queryEvents({ camera: "cam" });
    store.close();
    expect(events).toHaveLength(2);
    const [parked, leaving] = events as [EvaEvent, EvaEvent];
    expect(parked.stationary).toBe(true);
    expect(parked.track_id).toBe(leaving.track_id);
    // parked about 2 s after arriving, long before it drives off at 7 s
    const parkedFor = Date.parse(leaving.start_time) - Date.parse(parked.end_time!);
    expect(parkedFor).toBeGreaterThan(2000);
    expect(leaving.stationary).toBe(false);
  });

  it("signs: one sighting per pass, an inventory, and sign watch raising sign_missing while hidden and clearing when shown", async () => {
    // A stop sign on its post (bottom-centre 340, 180) for 2 s, hidden 3 s, then a second pass sliding in
    // from the right and staying 2 s, then hidden again.
    const clip = await spriteClip(
      "stop-sign-v1",
      8.5,
      [
        [
          [0, 340, 180],
          [1.99, 340, 180],
          [2, HIDDEN, 0],
          [4.99, HIDDEN, 0],
          [5, 490, 180],
          [6, 340, 180],
          [7, 340, 180],
          [7.01, HIDDEN, 0],
        ],
      ],
      FPS,
      await stopSign(80),
    );
    const extra = `    zones:
      post: {points: [[280, 140], [420, 140], [420, 220], [280, 220]]}
    signs:
      labels: [stop sign]
      watch:
        - {label: stop sign, zone: post, missing_after_seconds: 2}
`;
    const { sub, dir } = await runClip("dev-signs", clip, extra, "", ["stop sign"]);
    const msgs = await sub.until((m) => m.filter((x) => x.topic === "eva/dev-signs/signs").length >= 2, 30_000, "two sightings");
    await closeChecked(sub);

    const sightings = payloads<SignSighting>(msgs, "eva/dev-signs/signs");
    expect(sightings).toHaveLength(2);
    expect(sightings.map((s) => s.label)).toEqual(["stop sign", "stop sign"]);
    expect(new Set(sightings.map((s) => s.track_id)).size).toBe(2);
    for (const s of sightings) {
      expect(s.score).toBeGreaterThan(0.7);
      expect(Date.parse(s.last_seen) - Date.parse(s.first_seen)).toBeGreaterThan(1200);
      expect(s.box[2] - s.box[0]).toBeGreaterThan(60);
      expect(s.snapshot && existsSync(s.snapshot)).toBe(true);
    }
    const alarms = payloads<{ type: string; state: string; zone: string; label: string }>(msgs, "eva/dev-signs/alarms");
    expect(alarms.map((a) => [a.type, a.state, a.zone, a.label])).toEqual([
      ["sign_missing", "raised", "post", "stop sign"],
      ["sign_missing", "cleared", "post", "stop sign"],
    ]);

    const store = new EventStore(path.join(dir, "eva.db"));
    expect(new SignStore(store).inventory("cam")).toEqual([{ camera: "cam", label: "stop sign", last_seen: sightings[1]!.last_seen, count: 2 }]);
    // signs are sightings, not events
    expect(store.queryEvents({ camera: "cam" })).toEqual([]);
    store.close();
  });
});
