import { describe, expect, it } from "vitest";
import type { Box } from "../../agent/core/geometry.js";
import { StationaryClassifier } from "../../agent/track/stationary.js";
import type { Track } from "../../agent/track/tracker.js";

const track = (x: number, detected = true): Track => ({
  id: 1,
  label: "car",
  box: [x, 100, x + 100, 200] as Box,
  score: 0.9,
  detected,
  confirmed: true,
  firstSeen: 0,
  lastSeen: 0,
  medianScore: 0.9,
  scoreCount: 1,
});

describe("stationary classifier", () => {
  it("stationary after the set time within a jitter radius; moving again once it leaves the radius", () => {
    const s = new StationaryClassifier(2000);
    const seen: boolean[] = [];
    // parks at x=100 with a few pixels of detector jitter, then drives off
    for (const [t, x] of [
      [0, 100],
      [500, 103],
      [1000, 98],
      [1500, 101],
      [2000, 100],
      [2500, 104],
      [3000, 140],
    ] as const)
      seen.push(s.observe(track(x), t));
    expect(seen).toEqual([false, false, false, false, true, true, false]);
  });

  it("frames without a detection do not move it", () => {
    const s = new StationaryClassifier(1000);
    s.observe(track(100), 0);
    expect(s.observe(track(300, false), 1000)).toBe(false);
    expect(s.observe(track(100), 1200)).toBe(true);
  });
});
