import { execFile } from "node:child_process";
import { promisify } from "node:util";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CameraAnalytics } from "../../agent/analytics/camera-analytics.js";
import { OCCUPANCY_HOLD_MS, type ZoneSpec } from "../../agent/analytics/zones.js";
import type { Detection } from "../../agent/core/detection.js";
import { bottomCentre, pointInPolygon } from "../../agent/core/geometry.js";
import type { Emitted } from "../../agent/core/records.js";
import { Detector } from "../../agent/detect/detector.js";
import { TrackEvents } from "../../agent/events/track-events.js";
import { occupancy, ZoneRule } from "../../agent/records/occupancy.js";
import { sharedModel } from "../detect/fixtures.js";
import { spriteClip, twoWalkersClip } from "../support/sprite-clips.js";

// Real clips through ffmpeg and YOLOX-Nano, then the analytics as the agent runs them. A live camera whose
// detector is busy analyses only some frames (the rest are skipped): the clips are fed whole and with frames
// left out, since a walker who turns between two analysed frames is where one person became two.

const run = promisify(execFile);
const FPS = 10;
const W = 640;
const H = 360;
let detector: Detector;

beforeAll(async () => {
  detector = await Detector.open({
    name: "yolox",
    model: { path: sharedModel("yolox_nano.onnx"), labels: sharedModel("coco.names") },
    providers: ["cpu"],
    threads: 1,
    logger: pino({ level: "silent" }),
  });
});
afterAll(() => detector?.close());

/** Every frame's detections, as the camera stage would hand them on. */
async function detectClip(clip: string): Promise<Detection[][]> {
  const { stdout } = await run("ffmpeg", ["-loglevel", "error", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], {
    encoding: "buffer",
    maxBuffer: 1 << 30,
  });
  const size = W * H * 3;
  const data = new Uint8Array(new SharedArrayBuffer(size));
  const out: Detection[][] = [];
  for (let at = 0; at + size <= stdout.length; at += size) {
    data.set(stdout.subarray(at, at + size));
    out.push((await detector.detect({ data, width: W, height: H }, { min_score: 0.4, nms_iou: 0.45, labels: ["person"] } as never)).detections);
  }
  return out;
}

interface Replay {
  /** [frame time, occupancy total] for every occupancy change */
  occupancy: Array<[number, number]>;
  /** most events open at once */
  mostOpen: number;
  events: number;
  /** per analysed frame: its time and its detections in the zone */
  inZone: Array<[number, number]>;
}

/** The analytics over the analysed frames (`keep` picks them), with the agent's default tracker and test event rules. */
function replay(frames: Detection[][], zone: ZoneSpec, keep: (i: number) => boolean): Replay {
  const analytics = new CameraAnalytics({
    camera: "cam",
    newId: () => "id",
    tracker: { minHits: 3, maxAgeMs: 5000, highScore: 0.5, lowScore: 0.1, iou: 0.2 },
    stationaryMs: 30_000,
    gateStillMs: 3000,
    masks: [],
    zones: [zone],
    lines: [],
  });
  let n = 0;
  const events = new TrackEvents({
    device: "d",
    camera: "cam",
    minFrames: 2,
    threshold: 0.7,
    updateIntervalMs: 1000,
    stationary: "keep",
    newId: () => `e${n++}`,
  });
  const zones = new ZoneRule([zone]);
  const out: Replay = { occupancy: [], mostOpen: 0, events: 0, inZone: [] };
  const open = new Set<string>();
  const collect = (time: number, emitted: Emitted[]) => {
    for (const e of emitted) if (e.kind === (occupancy as unknown)) out.occupancy.push([time, (e.record as { total: number }).total]);
  };
  collect(0, zones.start(0));
  frames.forEach((detections, i) => {
    if (!keep(i)) return;
    const time = (i * 1000) / FPS;
    const a = analytics.observe(time, detections);
    out.inZone.push([time, a.detections.filter((d) => pointInPolygon(bottomCentre(d.box), zone.polygon)).length]);
    for (const c of events.observe(time, a.tracks, a.ended).changes) {
      if (c.change === "new") open.add(c.event.id), out.events++;
      if (c.change === "end") open.delete(c.event.id);
    }
    out.mostOpen = Math.max(out.mostOpen, open.size);
    const frame = {
      time,
      tracks: a.tracks.map((s) => ({ id: s.track.id, label: s.track.label, zones: s.zones })),
      live: a.live,
      ended: a.ended,
      detections: a.detections,
      usable: true,
      quality: () => 1,
      snapshot: () => "",
      emitted: [],
      fix: null,
    };
    collect(time, zones.observe(frame));
  });
  return out;
}

/** Occupancy never above the most detections in the zone in one analysed frame within the hold before it. */
function expectInView(r: Replay, name = ""): void {
  for (const [time, total] of r.occupancy) {
    const seen = Math.max(0, ...r.inZone.filter(([t]) => t <= time && t >= time - OCCUPANCY_HOLD_MS).map(([, n]) => n));
    expect(total, `${name}: occupancy at ${time} ms`).toBeLessThanOrEqual(seen);
  }
}

// every frame; every other; two of three; every third (a detector three times too slow)
const analysed: Array<[string, (i: number) => boolean]> = [
  ["every frame", () => true],
  ["every other frame", (i) => i % 2 === 0],
  ["two frames of three", (i) => i % 3 !== 2],
  ["every third frame", (i) => i % 3 === 0],
];

describe("occupancy and events follow what is in view", { timeout: 180_000 }, () => {
  it("one walker pacing and turning is one open event at a time and one event, however many frames are skipped", async () => {
    // paces x 120 → 520 → 120 at y 300: the turn at 520 is where the tracker's prediction overshoots
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
      FPS,
    );
    const frames = await detectClip(clip);
    // the detector sees the walker in (nearly) every frame: what follows is the tracker's doing
    expect(frames.filter((d) => d.length === 1).length).toBeGreaterThanOrEqual(frames.length - 2);
    const all: ZoneSpec = {
      name: "floor",
      polygon: [
        [0, 0],
        [W, 0],
        [W, H],
        [0, H],
      ],
      minScore: 0,
    };
    for (const [name, keep] of analysed.slice(0, 3)) {
      const r = replay([...frames, ...frames], all, keep); // played twice, as a looping file camera does
      expect({ name, mostOpen: r.mostOpen, events: r.events }).toEqual({ name, mostOpen: 1, events: 1 });
      expectInView(r, name);
      expect(Math.max(...r.occupancy.map(([, n]) => n))).toBe(1);
    }
  });

  it("a zone two walkers use: occupancy never exceeds what was seen in it within the hold, and goes back to 0 within the hold of the last leaving", async () => {
    const frames = await detectClip(await twoWalkersClip(FPS));
    const floor: ZoneSpec = {
      name: "floor",
      polygon: [
        [320, 200],
        [640, 200],
        [640, 360],
        [320, 360],
      ],
      minScore: 0,
    };
    for (const [name, keep] of analysed) {
      const r = replay(frames, floor, keep);
      expectInView(r, name);
      expect({ name, most: Math.max(...r.occupancy.map(([, n]) => n)), mostOpen: r.mostOpen }).toEqual({ name, most: 2, mostOpen: 2 });
      // the last frame with someone in the zone, and the zone empty again no later than the hold after it
      const lastSeen = r.inZone.filter(([, n]) => n > 0).at(-1)![0];
      const empty = r.occupancy.at(-1)!;
      expect(empty[1]).toBe(0);
      expect(empty[0] - lastSeen).toBeLessThanOrEqual(OCCUPANCY_HOLD_MS + 300);
    }
  });
});
