import { describe, expect, it } from "vitest";
import { FrameQuality, sharpness } from "../../agent/analytics/frame-quality.js";
import { SignSightings } from "../../agent/analytics/sign-sightings.js";
import { SignWatch } from "../../agent/analytics/sign-watch.js";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import type { Track } from "../../agent/track/tracker.js";

const sign = (id: number, label: string, box: Box, score = 0.8, over: Partial<Track> = {}): Track => ({
  id,
  label,
  box,
  score,
  detected: true,
  confirmed: true,
  firstSeen: 1000,
  lastSeen: 2000,
  medianScore: score,
  scoreCount: 1,
  ...over,
});
const area = (b: Box) => (b[2] - b[0]) * (b[3] - b[1]);

describe("sign sightings", () => {
  it("one sighting per pass: voted class, best (largest) view, first and last seen", () => {
    let n = 0;
    const s = new SignSightings("road", () => `s${++n}`);
    expect(s.observe([sign(4, "speed_30", [0, 0, 10, 10], 0.6)], [], area).improved.map((x) => x.box)).toEqual([[0, 0, 10, 10]]);
    expect(s.observe([sign(4, "speed_50", [0, 0, 30, 30], 0.9)], [], area).improved).toHaveLength(1);
    expect(s.observe([sign(4, "speed_50", [0, 0, 20, 20], 0.7)], [], area).improved).toEqual([]);
    const done = s.observe([], [sign(4, "speed_50", [0, 0, 20, 20], 0.7, { lastSeen: 3000 })], area).done;
    expect(done).toEqual([
      {
        id: "s1",
        camera: "road",
        label: "speed_50",
        score: 0.9,
        first_seen: new Date(1000).toISOString(),
        last_seen: new Date(3000).toISOString(),
        box: [0, 0, 30, 30],
        track_id: 4,
        snapshot: null,
      },
    ]);
    // a new pass (another track) is another sighting
    s.observe([sign(9, "stop", [0, 0, 10, 10])], [], area);
    expect(s.observe([], [sign(9, "stop", [0, 0, 10, 10])], area).done.map((x) => x.id)).toEqual(["s2"]);
  });
});

describe("sign watch", () => {
  const zone = [
    [0, 0],
    [100, 0],
    [100, 100],
    [0, 100],
  ] as const;
  const stop = (x: number): Detection => ({ label: "stop", classId: 14, score: 0.9, box: [x, 10, x + 20, 50] });
  it("raises sign_missing after missing_after of usable frames, once, and clears when seen again", () => {
    const w = new SignWatch([{ label: "stop", zone: "corner", polygon: zone, missingAfterMs: 3000 }]);
    const raised: string[] = [];
    for (let t = 0; t <= 2000; t += 500) raised.push(...w.observe(t, [stop(10)], true).map((a) => a.state));
    // hidden: a stop sign outside the zone does not count
    for (let t = 2500; t <= 8000; t += 500) raised.push(...w.observe(t, [stop(300)], true).map((a) => a.state));
    expect(raised).toEqual(["raised"]);
    expect(w.observe(8500, [stop(10)], true)).toEqual([
      { type: "sign_missing", state: "cleared", zone: "corner", label: "stop", time: 8500, missing_after_seconds: 3 },
    ]);
  });

  it("dark or frozen frames and an offline camera do not count as not seeing it", () => {
    const w = new SignWatch([{ label: "stop", zone: "corner", polygon: zone, missingAfterMs: 3000 }]);
    w.observe(0, [stop(10)], true);
    for (let t = 500; t <= 10_000; t += 500) expect(w.observe(t, [], false)).toEqual([]);
    // a minute offline is one gap of at most two seconds
    expect(w.observe(70_000, [], true)).toEqual([]);
    expect(w.observe(70_500, [], true)).toEqual([]);
    expect(w.observe(71_000, [], true).map((a) => a.state)).toEqual(["raised"]);
  });
});

describe("frame quality", () => {
  it("dark, frozen, and the sharper of two views", () => {
    const q = new FrameQuality(1000);
    const grey = new Uint8Array(64 * 48 * 3).fill(128);
    expect(q.observe(0, grey)).toEqual({ dark: false, frozen: false });
    expect(q.observe(600, grey).frozen).toBe(false);
    expect(q.observe(1200, grey).frozen).toBe(true);
    const dark = new Uint8Array(64 * 48 * 3).fill(5);
    expect(q.observe(1300, dark)).toEqual({ dark: true, frozen: false });

    const stripes = new Uint8Array(64 * 48 * 3).map((_, i) => (Math.floor(i / 3) % 2 ? 255 : 0));
    expect(sharpness(stripes, 64, 48, [0, 0, 32, 32])).toBeGreaterThan(sharpness(grey, 64, 48, [0, 0, 32, 32]));
  });

  it("on a YUV frame's Y plane: black is 16, so a plane at 30 is dark and one at 60 is not; sharpness from Y", () => {
    const plane = (v: number) => ({ data: new Uint8Array(64 * 48).fill(v), width: 64, height: 48, stride: 64, step: 1, offset: 0 });
    const q = new FrameQuality(1000);
    expect(q.observe(0, plane(30)).dark).toBe(true);
    expect(q.observe(100, plane(60)).dark).toBe(false);
    // the same sample at RGB's threshold would call 30 light: the Y plane has its own
    expect(q.observe(200, new Uint8Array(64 * 48 * 3).fill(30)).dark).toBe(false);
    const stripes = { ...plane(0), data: new Uint8Array(64 * 48).map((_, i) => (i % 2 ? 235 : 16)) };
    expect(sharpness(stripes, 64, 48, [0, 0, 32, 32])).toBeGreaterThan(sharpness(plane(128), 64, 48, [0, 0, 32, 32]) + 100);
  });
});
