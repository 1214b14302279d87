import { describe, expect, it } from "vitest";
import { LineCrossings, type LineSpec } from "../../agent/analytics/line-crossings.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Track } from "../../agent/track/tracker.js";

// Feet (bottom-centre) at (x, y): a 40×100 box standing there.
const track = (id: number, x: number, y = 300, extra: Partial<Track> = {}): Track => ({
  id,
  label: "person",
  box: [x - 20, y - 100, x + 20, y] as Box,
  score: 0.9,
  detected: true,
  confirmed: true,
  firstSeen: 0,
  lastSeen: 0,
  medianScore: 0.9,
  scoreCount: 1,
  ...extra,
});
// A line down the picture at x = 320, drawn from top to bottom: walking down, the left is the picture's right,
// so moving from the right half to the left half is "in".
const door: LineSpec = { name: "door", a: [320, 0], b: [320, 360], hysteresisPx: 8 };

function walk(lc: LineCrossings, xs: number[], id = 1) {
  return xs.flatMap((x, i) => lc.observe(i * 200, [track(id, x)]));
}

describe("line crossings", () => {
  it("direction follows the walker's left and right, in picture coordinates", () => {
    expect(walk(new LineCrossings([door]), [400, 360, 330, 300, 260]).map((c) => c.direction)).toEqual(["in"]);
    expect(walk(new LineCrossings([door]), [260, 300, 330, 360, 400]).map((c) => c.direction)).toEqual(["out"]);
    // the same line drawn bottom to top swaps the meaning
    const up: LineSpec = { ...door, a: [320, 360], b: [320, 0] };
    expect(walk(new LineCrossings([up]), [400, 330, 260]).map((c) => c.direction)).toEqual(["out"]);
  });

  it("a crossing carries line, label, track and time", () => {
    const [c] = walk(new LineCrossings([door]), [400, 250]);
    expect(c).toEqual({ line: "door", direction: "in", label: "person", track_id: 1, time: 200 });
  });

  it("stopping on the line and turning back counts nothing; jitter across it counts once", () => {
    expect(walk(new LineCrossings([door]), [400, 340, 325, 318, 322, 316, 330, 380, 420])).toEqual([]);
    expect(walk(new LineCrossings([door]), [400, 325, 315, 324, 316, 290, 250])).toHaveLength(1);
  });

  it("really crossing, turning and crossing back counts both", () => {
    expect(walk(new LineCrossings([door]), [400, 250, 250, 400]).map((c) => c.direction)).toEqual(["in", "out"]);
  });

  it("passing beside a segment (over its extension) is no crossing", () => {
    const short: LineSpec = { name: "gate", a: [320, 0], b: [320, 150], hysteresisPx: 8 };
    expect(walk(new LineCrossings([short]), [400, 250])).toEqual([]);
  });

  it("two objects crossing together are two crossings", () => {
    const lc = new LineCrossings([door]);
    lc.observe(0, [track(1, 400, 200), track(2, 400, 330)]);
    expect(lc.observe(200, [track(1, 250, 200), track(2, 250, 330)]).map((c) => c.track_id)).toEqual([1, 2]);
  });

  it("label filter; a lost (undetected) track's prediction never counts", () => {
    expect(walk(new LineCrossings([{ ...door, labels: ["car"] }]), [400, 250])).toEqual([]);
    const lc = new LineCrossings([door]);
    lc.observe(0, [track(1, 400)]);
    expect(lc.observe(200, [track(1, 250, 300, { detected: false })])).toEqual([]);
  });

  it("a crossing made while the track is tentative comes out on confirmation, or never if the track dies", () => {
    const lc = new LineCrossings([door]);
    lc.observe(0, [track(1, 400, 300, { confirmed: false }), track(2, 400, 100, { confirmed: false })]);
    expect(lc.observe(200, [track(1, 250, 300, { confirmed: false }), track(2, 250, 100, { confirmed: false })])).toEqual([]);
    expect(lc.observe(400, [track(1, 240, 300)]).map((c) => [c.track_id, c.time])).toEqual([[1, 200]]);
    expect(lc.observe(600, [track(1, 230, 300), track(2, 240, 100)])).toEqual([]);
  });
});
