import { describe, expect, it } from "vitest";
import { CameraAnalytics, type CameraAnalyticsOptions } from "../../agent/analytics/camera-analytics.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import type { Emitted, RuleFrame } from "../../agent/core/records.js";
import { crossings, LineRule } from "../../agent/records/crossings.js";
import { occupancy, ZoneRule } from "../../agent/records/occupancy.js";

const person = (x: number, y = 300): Detection => ({ label: "person", classId: 0, score: 0.9, box: [x - 20, y - 120, x + 20, y] as Box });
const opts = (over: Partial<CameraAnalyticsOptions> = {}): CameraAnalyticsOptions => ({
  camera: "c",
  newId: () => "id",
  tracker: { minHits: 2, maxAgeMs: 500, highScore: 0.5, lowScore: 0.1, iou: 0.2 },
  stationaryMs: 10_000,
  gateStillMs: 3000,
  masks: [],
  zones: [
    {
      name: "right",
      polygon: [
        [320, 0],
        [640, 0],
        [640, 360],
        [320, 360],
      ],
      minScore: 0,
    },
  ],
  lines: [{ name: "mid", a: [320, 0], b: [320, 360], hysteresisPx: 5 }],
  ...over,
});

describe("camera analytics", () => {
  it("a walker through the frame: one track and its zones; the zone and line rules make one crossing, occupancy up and down", () => {
    const o = opts();
    const a = new CameraAnalytics(o);
    const rules = [new LineRule(o.lines), new ZoneRule(o.zones)];
    const crossed: string[] = [];
    const totals: number[] = [];
    const zones: string[][] = [];
    const collect = (out: Emitted[]) => {
      for (const e of out) {
        if (e.kind === (crossings as unknown)) crossed.push((e.record as { direction: string }).direction);
        if (e.kind === (occupancy as unknown)) totals.push((e.record as { total: number }).total);
      }
    };
    for (let i = 0; i <= 12; i++) {
      const step = a.observe(i * 100, [person(200 + 20 * i)]);
      const frame: RuleFrame = {
        time: i * 100,
        tracks: step.tracks.map((s) => ({ id: s.track.id, label: s.track.label, zones: s.zones })),
        live: step.live,
        ended: step.ended,
        detections: step.detections,
        usable: true,
        fix: null,
        quality: () => 1,
        snapshot: () => "",
        emitted: [],
      };
      for (const r of rules) collect(r.observe(frame));
      if (step.tracks[0]) zones.push(step.tracks[0].zones);
    }
    expect(crossed).toEqual(["out"]);
    expect(zones[0]).toEqual([]);
    expect(zones.at(-1)).toEqual(["right"]);
    expect(a.endAll()).toHaveLength(1);
    for (const r of rules) collect(r.endAll(2000));
    expect(totals).toEqual([1, 0]);
  });

  it("for motion gating, an object standing still stops counting as moving after gateStillMs, long before it is stationary", () => {
    const a = new CameraAnalytics(opts());
    const moving: number[] = [];
    // a person at rest for 5 s, then walking (200 ms a frame)
    for (let i = 0; i <= 25; i++) moving.push(a.observe(i * 200, [person(100)]).moving);
    for (let i = 1; i <= 5; i++) moving.push(a.observe(5000 + i * 200, [person(100 + 15 * i)]).moving);
    expect(moving.slice(0, 15)).toEqual(Array(15).fill(1)); // 0-2.8 s: still new
    expect(moving.slice(16, 26)).toEqual(Array(10).fill(0)); // 3.2-5 s: still, and not yet stationary (10 s)
    expect(a.observe(6200, [person(190)]).tracks[0]!.stationary).toBe(false);
    expect(moving.slice(-3)).toEqual([1, 1, 1]); // walking again: every frame
  });

  it("detections standing in a mask are ignored", () => {
    const a = new CameraAnalytics(
      opts({
        masks: [
          [
            [0, 250],
            [640, 250],
            [640, 360],
            [0, 360],
          ],
        ],
      }),
    );
    for (let i = 0; i < 5; i++) expect(a.observe(i * 100, [person(100, 300)]).tracks).toEqual([]);
    // feet above the mask: tracked
    let tracked = 0;
    for (let i = 5; i < 10; i++) tracked = a.observe(i * 100, [person(100, 200)]).tracks.length;
    expect(tracked).toBe(1);
  });
});
