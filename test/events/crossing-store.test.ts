import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CrossingStore } from "../../agent/events/crossing-store.js";
import { EventStore, newEventId } from "../../agent/events/store.js";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eva-crossings-"));
  file = join(dir, "eva.db");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("CrossingStore", () => {
  it("counts per line survive a restart; each crossing is queued on `crossings` and the retained `lines/<camera>/<line>` totals", () => {
    let s = new EventStore(file);
    let c = new CrossingStore(s);
    c.record("gate", { line: "door", direction: "in", label: "person", track_id: 3, time: Date.parse("2026-11-27T10:00:00Z") });
    c.record("gate", { line: "door", direction: "out", label: "person", track_id: 4, time: Date.parse("2026-11-27T10:00:01Z") });
    c.record("yard", { line: "door", direction: "in", label: "car", track_id: 1, time: 0 });
    s.close();

    s = new EventStore(file);
    c = new CrossingStore(s);
    expect(c.counts("gate", "door")).toEqual({ in: 1, out: 1 });
    expect(c.counts("gate", "never")).toEqual({ in: 0, out: 0 });
    const msg = c.record("gate", { line: "door", direction: "in", label: "person", track_id: 9, time: Date.parse("2026-11-27T10:00:05Z") });
    expect(msg).toEqual({ line: "door", direction: "in", label: "person", track_id: 9, camera: "gate", time: "2026-11-27T10:00:05.000Z", counts: { in: 2, out: 1 } });
    const rows = s.peekOutbox(0, 20);
    const crossings = rows.filter((r) => r.topic === "crossings");
    expect(crossings).toHaveLength(4);
    expect(JSON.parse(crossings.at(-1)!.payload)).toEqual(msg);
    expect(crossings.every((r) => r.qos === 1 && !r.retain)).toBe(true);
    // each crossing is followed by its line's totals, retained, in the same transaction
    expect(rows.map((r) => r.topic)).toEqual(["crossings", "lines/gate/door", "crossings", "lines/gate/door", "crossings", "lines/yard/door", "crossings", "lines/gate/door"]);
    const totals = rows.at(-1)!;
    expect(totals.retain).toBe(true);
    expect(JSON.parse(totals.payload)).toEqual({ camera: "gate", line: "door", counts: { in: 2, out: 1 }, time: "2026-11-27T10:00:05.000Z" });
    s.close();
  });

  it("announce queues each line's totals as they stand (zero for a line never crossed), retained", () => {
    const s = new EventStore(file);
    const c = new CrossingStore(s);
    c.record("gate", { line: "door", direction: "out", label: "person", track_id: 1, time: 0 });
    const before = s.peekOutbox(0, 20).length;
    c.announce("gate", ["door", "new"], Date.parse("2026-12-01T00:00:00Z"));
    const rows = s.peekOutbox(0, 20).slice(before);
    expect(rows.map((r) => [r.topic, r.retain, JSON.parse(r.payload).counts])).toEqual([
      ["lines/gate/door", true, { in: 0, out: 1 }],
      ["lines/gate/new", true, { in: 0, out: 0 }],
    ]);
    s.close();
  });

  it("events keep their tracking fields through the store", () => {
    const s = new EventStore(file);
    const ev = {
      id: newEventId(), device: "d", camera: "gate", label: "person", start_time: "2026-11-27T09:00:00.000Z", end_time: null,
      top_score: 0.9, box: [1, 2, 3, 4] as [number, number, number, number], snapshot: null,
      track_id: 12, current_zones: ["lobby"], entered_zones: ["street", "lobby"], stationary: false,
    };
    s.recordEvent("new", ev);
    expect(s.queryEvents()).toEqual([ev]);
    s.close();
  });
});

describe("SignStore", () => {
  it("stores sightings, queues them on `signs`, and keeps an inventory per camera", async () => {
    const { SignStore } = await import("../../agent/events/sign-store.js");
    const s = new EventStore(file);
    const signs = new SignStore(s);
    const sighting = (id: string, label: string, last: string) => ({
      id, camera: "road", label, score: 0.9, first_seen: "2026-11-27T10:00:00.000Z", last_seen: last, box: [1, 2, 3, 4] as [number, number, number, number], track_id: 1, snapshot: null,
    });
    signs.record(sighting("a", "stop", "2026-11-27T10:00:01.000Z"));
    signs.record(sighting("b", "stop", "2026-11-27T10:05:00.000Z"));
    signs.record(sighting("c", "speed_50", "2026-11-27T10:01:00.000Z"));
    expect(signs.inventory("road")).toEqual([
      { camera: "road", label: "speed_50", last_seen: "2026-11-27T10:01:00.000Z", count: 1 },
      { camera: "road", label: "stop", last_seen: "2026-11-27T10:05:00.000Z", count: 2 },
    ]);
    const rows = s.peekOutbox(0, 10);
    expect(rows.map((r) => r.topic)).toEqual(["signs", "signs", "signs"]);
    expect(JSON.parse(rows[0]!.payload)).toEqual(sighting("a", "stop", "2026-11-27T10:00:01.000Z"));
    s.close();
  });
});
