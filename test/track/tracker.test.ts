import { describe, expect, it } from "vitest";
import type { Box } from "../../agent/core/geometry.js";
import type { Detection } from "../../agent/core/detection.js";
import { iou, matchByIou } from "../../agent/track/association.js";
import { BoxKalman } from "../../agent/track/kalman.js";
import { Tracker } from "../../agent/track/tracker.js";

const det = (box: Box, score = 0.9, label = "person"): Detection => ({ label, classId: 0, score, box });
const at = (x: number, y = 100, w = 40, h = 120): Box => [x, y, x + w, y + h];
const opts = { minHits: 3, maxAgeMs: 1000, highScore: 0.5, lowScore: 0.1, iou: 0.2 };

describe("Kalman filter", () => {
  it("learns a constant velocity and predicts ahead of the measurements", () => {
    const k = new BoxKalman(at(0));
    for (let i = 1; i <= 10; i++) {
      k.predict(0.2);
      k.update(at(20 * i)); // 100 px/s to the right
    }
    expect(k.velocity()[0]).toBeGreaterThan(85);
    expect(k.velocity()[0]).toBeLessThan(115);
    const predicted = k.predict(0.2);
    expect(predicted[0]).toBeGreaterThan(210);
    expect(predicted[0]).toBeLessThan(230);
    expect(predicted[3] - predicted[1]).toBeCloseTo(120, 0);
  });
});

describe("association", () => {
  it("IoU of boxes", () => {
    expect(iou(at(0), at(0))).toBe(1);
    expect(iou(at(0), at(100))).toBe(0);
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3);
  });

  it("pairs best overlaps first, each side once, below the threshold refused", () => {
    const m = matchByIou([at(0), at(50), at(300)], [at(52), at(3), at(600)], 0.3);
    expect(m.pairs.sort()).toEqual([
      [0, 1],
      [1, 0],
    ]);
    expect(m.unmatchedTracks).toEqual([2]);
    expect(m.unmatchedDetections).toEqual([2]);
  });
});

describe("tracker", () => {
  it("confirms after min_hits, keeps one id along a path, ends max_age after the last detection", () => {
    const t = new Tracker(opts);
    const ids = new Set<number>();
    let confirmedAt = -1;
    for (let i = 0; i < 10; i++) {
      const step = t.update(i * 200, [det(at(20 * i))]);
      expect(step.tracks).toHaveLength(1);
      ids.add(step.tracks[0]!.id);
      if (confirmedAt < 0 && step.tracks[0]!.confirmed) confirmedAt = i;
    }
    expect(ids.size).toBe(1);
    expect(confirmedAt).toBe(2);
    expect(t.update(2000, []).ended).toEqual([]);
    const gone = t.update(2900, []);
    expect(gone.ended.map((x) => x.id)).toEqual([...ids]);
    expect(gone.ended[0]!.lastSeen).toBe(1800);
  });

  it("bridges a missed frame and a low-score frame with the same id (ByteTrack's second pass)", () => {
    const t = new Tracker(opts);
    for (let i = 0; i < 4; i++) t.update(i * 200, [det(at(10 * i))]);
    const id = t.update(800, [det(at(40))]).tracks[0]!.id;
    expect(t.update(1000, []).tracks[0]!.id).toBe(id);
    const low = t.update(1200, [det(at(60), 0.3)]);
    expect(low.tracks).toHaveLength(1);
    expect(low.tracks[0]).toMatchObject({ id, detected: true, score: 0.3 });
    // a low-score detection alone starts nothing
    expect(t.update(1400, [det(at(70), 0.9), det(at(400), 0.3)]).tracks).toHaveLength(1);
  });

  it("two objects side by side keep separate ids; a one-frame blip is never confirmed", () => {
    const t = new Tracker(opts);
    let last: number[] = [];
    for (let i = 0; i < 6; i++) {
      const dets = [det(at(100 + 10 * i)), det(at(300 - 10 * i))];
      if (i === 2) dets.push(det(at(500, 10, 30, 30)));
      last = t
        .update(i * 200, dets)
        .tracks.filter((x) => x.confirmed)
        .map((x) => x.id);
    }
    expect(last).toEqual([1, 2]);
  });

  it("a walker who turns back, or sets off from standing, between two analysed frames keeps its track; someone far off does not take it", () => {
    const t = new Tracker({ ...opts, maxAgeMs: 5000 });
    // 150 px/s to the right at 5 fps, then back the other way: the prediction overshoots the turn
    let time = 0;
    for (let x = 0; x <= 300; x += 30, time += 200) t.update(time, [det(at(x))]);
    for (let x = 270; x >= 150; x -= 30, time += 200) {
      const { tracks } = t.update(time, [det(at(x))]);
      expect(tracks.map((k) => k.id)).toEqual([1]);
      expect(tracks[0]!.detected).toBe(true);
    }
    // standing still for a while, then 60 px (1.5 widths) a frame: no overlap with the last box or its prediction
    for (let i = 0; i < 10; i++, time += 200) t.update(time, [det(at(150))]);
    for (let x = 210; x <= 330; x += 60, time += 200) expect(t.update(time, [det(at(x))]).tracks.map((k) => [k.id, k.detected])).toEqual([[1, true]]);
    // lost for 3 s, someone appears four heights away: a new track, the old one stays lost
    time += 3000;
    const far = t.update(time, [det(at(330 + 480))]);
    expect(far.tracks.map((k) => [k.id, k.detected])).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  it("the label is the score-weighted vote over the track", () => {
    const t = new Tracker({ ...opts, minHits: 1 });
    t.update(0, [det(at(0), 0.6, "car")]);
    t.update(200, [det(at(2), 0.9, "truck")]);
    expect(t.update(400, [det(at(4), 0.5, "car")]).tracks[0]!.label).toBe("car");
  });
});

describe("tracker on a walker who stops and starts", () => {
  it("keeps one id when a person standing still walks off briskly (1.5 heights/s at 10 fps), frames dropped included", () => {
    const t = new Tracker(opts);
    const ids = new Set<number>();
    let time = 0;
    for (let i = 0; i < 30; i++) ids.add(t.update((time += 100), [det(at(300, 100, 44, 140))]).tracks[0]!.id);
    let x = 300;
    for (let i = 0; i < 15; i++) {
      // every fourth frame is lost on a busy machine: the next one is two steps further
      const step = i % 4 === 3 ? 2 : 1;
      x -= 21 * step;
      time += 100 * step;
      const tracks = t.update(time, [det(at(x, 100, 44, 140))]).tracks;
      expect(tracks).toHaveLength(1);
      ids.add(tracks[0]!.id);
    }
    expect(ids.size).toBe(1);
  });
});
