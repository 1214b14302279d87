import { describe, expect, it } from "vitest";
import type { TrackState } from "../../agent/analytics/camera-analytics.js";
import type { Box } from "../../agent/core/geometry.js";
import { TrackEvents, type TrackEventOptions } from "../../agent/events/track-events.js";
import type { Track } from "../../agent/track/tracker.js";

function rules(over: Partial<TrackEventOptions> = {}) {
  let n = 0;
  return new TrackEvents({
    device: "d",
    camera: "c",
    minFrames: 3,
    threshold: 0.7,
    updateIntervalMs: 500,
    stationary: "keep",
    newId: () => `ev${++n}`,
    ...over,
  });
}

const track = (over: Partial<Track> = {}): Track => ({
  id: 1,
  label: "person",
  box: [10, 10, 50, 110] as Box,
  score: 0.8,
  detected: true,
  confirmed: true,
  firstSeen: 1000,
  lastSeen: 1000,
  medianScore: 0.8,
  scoreCount: 3,
  ...over,
});
const state = (over: Partial<Track> = {}, zones: string[] = [], stationary = false): TrackState => ({ track: track(over), zones, stationary });

describe("track events", () => {
  it("new once the median score over min_frames reaches the threshold, dated from the track's birth", () => {
    const r = rules();
    expect(r.observe(1400, [state({ medianScore: 0.9, scoreCount: 2 })], []).changes).toEqual([]);
    expect(r.observe(1600, [state({ medianScore: 0.6, scoreCount: 3 })], []).changes).toEqual([]);
    const step = r.observe(1800, [state({ medianScore: 0.8, scoreCount: 5 })], []);
    expect(step.changes).toMatchObject([
      { change: "new", event: { id: "ev1", track_id: 1, start_time: new Date(1000).toISOString(), end_time: null, stationary: false } },
    ]);
    expect(step.improved).toHaveLength(1);
  });

  it("one event per track whatever it does; end when the track dies, at its last sighting", () => {
    const r = rules();
    r.observe(1000, [state()], []);
    for (let t = 1200; t < 3000; t += 200) expect(r.observe(t, [state({ detected: t % 400 === 0 })], []).changes.filter((c) => c.change === "new")).toEqual([]);
    const end = r.observe(4000, [], [track({ lastSeen: 2800 })]).changes;
    expect(end).toMatchObject([{ change: "end", event: { id: "ev1", end_time: new Date(2800).toISOString() } }]);
  });

  it("updates only on a meaningful change, rate-limited; zones entered accumulate", () => {
    const r = rules();
    r.observe(1000, [state({}, ["street"])], []);
    expect(r.observe(1200, [state({}, ["street"])], []).changes).toEqual([]);
    // entered the lobby before the interval: held back, then sent
    expect(r.observe(1300, [state({}, ["street", "lobby"])], []).changes).toEqual([]);
    const up = r.observe(1500, [state({}, ["lobby"])], []).changes;
    expect(up).toMatchObject([{ change: "update", event: { current_zones: ["lobby"], entered_zones: ["street", "lobby"] } }]);
    // a better score is a better snapshot: an update
    expect(r.observe(2100, [state({ score: 0.95 }, ["lobby"])], []).changes).toMatchObject([{ change: "update", event: { top_score: 0.95 } }]);
    expect(r.observe(2700, [state({ score: 0.9 }, ["lobby"])], []).changes).toEqual([]);
  });

  it("stationary: keep marks the event and leaves it open; moving again is another update", () => {
    const r = rules();
    r.observe(1000, [state()], []);
    expect(r.observe(2000, [state({}, [], true)], []).changes).toMatchObject([{ change: "update", event: { stationary: true, end_time: null } }]);
    expect(r.observe(3000, [state({}, [], false)], []).changes).toMatchObject([{ change: "update", event: { stationary: false } }]);
  });

  it("stationary: end ends the event; a parked object never re-triggers; moving off opens a new one", () => {
    const r = rules({ stationary: "end" });
    r.observe(1000, [state()], []);
    expect(r.observe(2000, [state({}, [], true)], []).changes).toMatchObject([{ change: "end", event: { id: "ev1", stationary: true } }]);
    for (let t = 2200; t < 5000; t += 200) expect(r.observe(t, [state({}, [], true)], []).changes).toEqual([]);
    expect(r.observe(5200, [state({}, [], false)], []).changes).toMatchObject([
      { change: "new", event: { id: "ev2", track_id: 1, start_time: new Date(5200).toISOString() } },
    ]);
  });

  it("a parked object lost by the detector and found again on its spot does not re-trigger; leaving the spot is news", () => {
    for (const mode of ["keep", "end"] as const) {
      const r = rules({ stationary: mode });
      r.observe(1000, [state({ label: "car" })], []);
      r.observe(40_000, [state({ label: "car" }, [], true)], []);
      // the detector misses it long enough for the track to die
      r.observe(50_000, [], [track({ label: "car", lastSeen: 45_000 })]);
      // found again on the same spot under a new id: nothing, however long it stays
      for (let t = 60_000; t < 70_000; t += 1000) expect(r.observe(t, [state({ id: 2, label: "car", firstSeen: 60_000 })], []).changes).toEqual([]);
      // it drives off the spot: a new event from then
      const off = r.observe(70_000, [state({ id: 2, label: "car", firstSeen: 60_000, box: [200, 10, 240, 110] })], []).changes;
      expect(off).toMatchObject([{ change: "new", event: { track_id: 2, start_time: new Date(70_000).toISOString() } }]);
      // a different object arriving elsewhere is unaffected
      expect(r.observe(71_000, [state({ id: 3, label: "car", firstSeen: 71_000, box: [400, 10, 440, 110] })], []).changes).toMatchObject([{ change: "new" }]);
    }
  });
});
