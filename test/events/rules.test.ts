import { describe, expect, it } from "vitest";
import type { Detection } from "../../agent/detect/detection.js";
import { EventRules } from "../../agent/events/rules.js";

const person = (score: number, x = 10): Detection => ({ label: "person", classId: 0, score, box: [x, 10, x + 50, 110] });
const car = (score: number): Detection => ({ label: "car", classId: 2, score, box: [200, 50, 300, 120] });

function rules(minFrames = 3, endAfterMs = 1000, updateIntervalMs = 500) {
  let n = 0;
  return new EventRules({ device: "d", camera: "c", minFrames, endAfterMs, updateIntervalMs, newId: () => `id${++n}` });
}

describe("event rules", () => {
  it("opens after min_frames consecutive frames, dated from the first", () => {
    const r = rules(3);
    expect(r.observe(1000, [person(0.6)]).changes).toEqual([]);
    expect(r.observe(1200, [person(0.7)]).changes).toEqual([]);
    const step = r.observe(1400, [person(0.65)]);
    expect(step.changes).toHaveLength(1);
    expect(step.changes[0]).toMatchObject({ change: "new", event: { id: "id1", label: "person", start_time: new Date(1000).toISOString(), end_time: null, top_score: 0.65 } });
    expect(step.improved.map((e) => e.id)).toEqual(["id1"]);
  });

  it("a gap resets the streak", () => {
    const r = rules(3);
    r.observe(0, [person(0.6)]);
    r.observe(100, [person(0.6)]);
    r.observe(200, []);
    expect(r.observe(300, [person(0.6)]).changes).toEqual([]);
    expect(r.observe(400, [person(0.6)]).changes).toEqual([]);
    expect(r.observe(500, [person(0.6)]).changes[0]!.change).toBe("new");
  });

  it("ends end_after ms after the label was last seen, with end_time = last seen", () => {
    const r = rules(1, 1000);
    r.observe(0, [person(0.6)]);
    r.observe(500, [person(0.6)]);
    expect(r.observe(1400, []).changes).toEqual([]);
    const step = r.observe(1500, []);
    expect(step.changes).toEqual([expect.objectContaining({ change: "end", event: expect.objectContaining({ end_time: new Date(500).toISOString() }) })]);
    // the label coming back is a new event
    expect(r.observe(2000, [person(0.6)]).changes[0]).toMatchObject({ change: "new", event: { id: "id2" } });
  });

  it("a short absence inside end_after keeps one event", () => {
    const r = rules(1, 1000);
    r.observe(0, [person(0.6)]);
    r.observe(300, []);
    r.observe(600, []);
    expect(r.observe(900, [person(0.6)]).changes).toEqual([]);
  });

  it("updates on a better score, rate-limited, and marks the frame for the snapshot", () => {
    const r = rules(1, 5000, 500);
    r.observe(0, [person(0.5)]);
    const better = r.observe(100, [person(0.8, 40)]);
    expect(better.changes).toEqual([]); // inside the rate limit
    expect(better.improved).toHaveLength(1);
    expect(r.observe(200, [person(0.7)]).improved).toEqual([]);
    const step = r.observe(600, [person(0.7)]);
    expect(step.changes).toEqual([expect.objectContaining({ change: "update", event: expect.objectContaining({ top_score: 0.8, box: [40, 10, 90, 110] }) })]);
    expect(r.observe(1200, [person(0.7)]).changes).toEqual([]); // nothing new to say
  });

  it("keeps one event per label and the best detection of each label per frame", () => {
    const r = rules(1);
    const step = r.observe(0, [person(0.4), person(0.9, 300), car(0.7)]);
    expect(step.changes.map((c) => [c.event.label, c.event.top_score])).toEqual([
      ["person", 0.9],
      ["car", 0.7],
    ]);
  });

  it("endAll ends open events and keeps the snapshot path set on them", () => {
    const r = rules(1);
    const id = r.observe(0, [person(0.6)]).changes[0]!.event.id;
    r.setSnapshot(id, "/s/c/x.jpg");
    const ends = r.endAll();
    expect(ends).toEqual([expect.objectContaining({ change: "end", event: expect.objectContaining({ id, snapshot: "/s/c/x.jpg", end_time: new Date(0).toISOString() }) })]);
    expect(r.endAll()).toEqual([]);
  });
});
