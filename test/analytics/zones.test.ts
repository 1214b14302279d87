import { describe, expect, it } from "vitest";
import { ZoneAnalytics, type ZoneSpec } from "../../agent/analytics/zones.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Track } from "../../agent/track/tracker.js";

const track = (id: number, x: number, label = "person", medianScore = 0.9): Track => ({
  id,
  label,
  box: [x - 20, 200, x + 20, 300] as Box,
  score: 0.9,
  detected: true,
  confirmed: true,
  firstSeen: 0,
  lastSeen: 0,
  medianScore,
  scoreCount: 1,
});
const lobby: ZoneSpec = {
  name: "lobby",
  polygon: [
    [100, 250],
    [300, 250],
    [300, 350],
    [100, 350],
  ],
  minScore: 0,
  loiterMs: 1000,
  maxObjects: 1,
};

describe("zones", () => {
  it("occupancy per label changes 0→1→2→1→0 and is reported only when it changes", () => {
    const z = new ZoneAnalytics([lobby]);
    expect(z.initial()).toEqual([{ zone: "lobby", counts: {}, total: 0 }]);
    const totals: number[] = [];
    const frames: Track[][] = [[], [track(1, 200)], [track(1, 210)], [track(1, 220), track(2, 150, "dog")], [track(2, 160)], [track(2, 500)]];
    frames.forEach((f, i) => totals.push(...z.observe(i * 100, f).occupancy.map((o) => o.total)));
    expect(totals).toEqual([1, 2, 1, 0]);
    const z2 = new ZoneAnalytics([lobby]);
    z2.initial();
    expect(z2.observe(0, [track(1, 200), track(2, 150, "dog")]).occupancy).toEqual([{ zone: "lobby", counts: { person: 1, dog: 1 }, total: 2 }]);
  });

  it("the bottom-centre on the zone's edge is inside; label filter and min score apply", () => {
    const z = new ZoneAnalytics([{ ...lobby, labels: ["person"], minScore: 0.5 }]);
    const step = z.observe(0, [track(1, 300), track(2, 200, "dog"), track(3, 150, "person", 0.35)]);
    expect(Object.fromEntries(step.zonesOf)).toEqual({ 1: ["lobby"], 2: [], 3: [] });
  });

  it("loitering raises once per stay and clears when the track leaves", () => {
    const z = new ZoneAnalytics([{ ...lobby, maxObjects: undefined }]);
    const alarms = [0, 500, 1000, 1500, 2000].flatMap((t) => z.observe(t, [track(7, 200)]).alarms);
    expect(alarms).toEqual([{ type: "loitering", state: "raised", zone: "lobby", time: 1000, track_id: 7, label: "person" }]);
    expect(z.observe(2500, [track(7, 600)]).alarms).toMatchObject([{ type: "loitering", state: "cleared", track_id: 7 }]);
    // a second stay is a second alarm
    const again = [3000, 3500, 4000].flatMap((t) => z.observe(t, [track(7, 200)]).alarms);
    expect(again).toMatchObject([{ state: "raised", time: 4000 }]);
  });

  it("overcrowding raises above max_objects and clears at or below it", () => {
    const z = new ZoneAnalytics([{ ...lobby, loiterMs: undefined }]);
    expect(z.observe(0, [track(1, 200)]).alarms).toEqual([]);
    expect(z.observe(100, [track(1, 200), track(2, 150)]).alarms).toEqual([
      { type: "overcrowding", state: "raised", zone: "lobby", time: 100, count: 2, max_objects: 1 },
    ]);
    expect(z.observe(200, [track(1, 200), track(2, 150)]).alarms).toEqual([]);
    expect(z.observe(300, [track(1, 200)]).alarms).toMatchObject([{ state: "cleared", count: 1 }]);
  });
});
