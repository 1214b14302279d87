import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { Retention, retentionPlan, type Kept } from "../../agent/events/retention.js";
import { Recorder } from "../../agent/events/recorder.js";
import { EventStore } from "../../agent/events/store.js";
import { countReports, counts } from "../../agent/records/counts.js";
import { crossings } from "../../agent/records/crossings.js";
import { lineCounts } from "../../agent/records/line-totals.js";

const DAY = 86_400_000;
const kept = (id: string, timeMs: number, bytes: number): Kept => ({ table: "events", id, timeMs, snapshot: `${id}.jpg`, bytes });

describe("retention plan", () => {
  it("deletes what is older than the age limit, then the oldest until the snapshots fit", () => {
    const now = 10 * DAY;
    const all = [kept("c", 9 * DAY, 100), kept("a", 1 * DAY, 100), kept("b", 5 * DAY, 100), kept("d", 9.5 * DAY, 100)];
    expect(retentionPlan(all, now, { maxAgeMs: 7 * DAY }).map((k) => k.id)).toEqual(["a"]);
    expect(retentionPlan(all, now, { maxBytes: 250 }).map((k) => k.id)).toEqual(["a", "b"]);
    expect(retentionPlan(all, now, { maxAgeMs: 3 * DAY, maxBytes: 150 }).map((k) => k.id)).toEqual(["a", "b", "c"]);
    expect(retentionPlan(all, now, {})).toEqual([]);
  });
});

let dir = "";
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("Retention on a store", () => {
  it("deletes old ended events with their snapshot files, keeps open and recent ones", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-retention-"));
    const store = new EventStore(path.join(dir, "eva.db"));
    const now = Date.parse("2026-11-27T12:00:00Z");
    const snap = (id: string) => {
      const f = path.join(dir, `${id}.jpg`);
      writeFileSync(f, Buffer.alloc(1000));
      return f;
    };
    const ev = (id: string, ageDays: number, ended: boolean) => ({
      id,
      device: "d",
      camera: "c",
      label: "person",
      start_time: new Date(now - ageDays * DAY).toISOString(),
      end_time: ended ? new Date(now - ageDays * DAY + 1000).toISOString() : null,
      top_score: 0.9,
      box: [0, 0, 1, 1] as [number, number, number, number],
      snapshot: snap(id),
    });
    store.recordEvent("end", ev("old", 40, true));
    store.recordEvent("new", ev("open-old", 40, false));
    store.recordEvent("end", ev("recent", 1, true));
    const deleted = await new Retention(store, { maxAgeMs: 30 * DAY }, pino({ level: "silent" })).run(now);
    expect(deleted).toBe(1);
    expect(store.queryEvents().map((e) => e.id)).toEqual(["open-old", "recent"]);
    expect(existsSync(path.join(dir, "old.jpg"))).toBe(false);
    expect(existsSync(path.join(dir, "recent.jpg"))).toBe(true);
    store.close();
  });
});

describe("Retention of the record kinds' history", () => {
  it("deletes crossings and count reports older than the age limit; the lines' totals stay", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-retention-"));
    const store = new EventStore(path.join(dir, "eva.db"));
    const now = Date.parse("2026-11-27T12:00:00Z");
    const r = new Recorder(store);
    for (const age of [40, 1]) {
      r.record(crossings, Recorder.stamp({ device: "d", camera: "c", line: "door", direction: "in", label: "person", track_id: age, time: now - age * DAY }));
      r.record(
        counts,
        Recorder.stamp({
          device: "d",
          camera: "c",
          subject: "line",
          name: "door",
          interval_start: now - age * DAY,
          interval_seconds: 900,
          classes: { person: { in: 1, out: 0 } },
          complete: true,
        }),
      );
    }
    await new Retention(store, { maxAgeMs: 30 * DAY }, pino({ level: "silent" })).run(now);
    store.inTransaction("check", (db) => {
      expect((crossings.list!(db, { limit: 10 }) as Array<{ track_id: number }>).map((c) => c.track_id)).toEqual([1]);
      expect(countReports(db, {}).map((c) => (c.interval as { start: string }).start)).toEqual([new Date(now - DAY).toISOString()]);
      expect(lineCounts(db, "c", "door")).toEqual({ in: 2, out: 0 });
    });
    store.close();
  });
});

describe("Retention of event clips", () => {
  const now = Date.parse("2026-11-27T12:00:00Z");
  const file = (name: string, bytes: number) => {
    const f = path.join(dir, name);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, Buffer.alloc(bytes));
    return f;
  };
  const ev = (id: string, camera: string, ageDays: number, clipBytes: number) => ({
    id,
    device: "d",
    camera,
    label: "person",
    start_time: new Date(now - ageDays * DAY).toISOString(),
    end_time: new Date(now - ageDays * DAY + 1000).toISOString(),
    top_score: 0.9,
    box: [0, 0, 1, 1] as [number, number, number, number],
    snapshot: file(`${id}.jpg`, 1000),
    clip: { path: file(`clips/${camera}/${id}.mp4`, clipBytes), duration_seconds: 12, bytes: clipBytes },
  });

  it("deletes a camera's clips older than its retain_days and keeps their events", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-retention-"));
    const store = new EventStore(path.join(dir, "eva.db"));
    for (const e of [ev("old", "gate", 10, 5000), ev("new", "gate", 1, 5000), ev("other", "yard", 10, 5000)]) store.recordEvent("update", e);
    const policy = { clipsDir: path.join(dir, "clips"), clipMaxAgeMs: { gate: 7 * DAY } };
    expect(await new Retention(store, policy, pino({ level: "silent" })).run(now)).toBe(0);
    const byId = new Map(store.queryEvents().map((e) => [e.id, e]));
    expect([...byId.keys()].sort()).toEqual(["new", "old", "other"]);
    expect(byId.get("old")!.clip).toBeUndefined();
    expect(existsSync(path.join(dir, "clips/gate/old.mp4"))).toBe(false);
    expect(existsSync(path.join(dir, "old.jpg"))).toBe(true);
    expect(byId.get("new")!.clip).toMatchObject({ path: path.join(dir, "clips/gate/new.mp4"), bytes: 5000 });
    expect(existsSync(path.join(dir, "clips/yard/other.mp4"))).toBe(true);
    store.close();
  });

  it("counts clips and the recording segments towards max_mb, deleting the oldest events with their clips", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "eva-retention-"));
    const store = new EventStore(path.join(dir, "eva.db"));
    for (const [id, age] of [
      ["a", 3],
      ["b", 2],
      ["c", 1],
    ] as const)
      store.recordEvent("update", ev(id, "gate", age, 300_000));
    // 3 × (300 kB clip + 1 kB snapshot) = 903 kB fit 1 MB alone; 300 kB of segments make the oldest go.
    file("clips/gate/segments/x-000001.ts", 300_000);
    const policy = { maxBytes: 1_000_000, clipsDir: path.join(dir, "clips") };
    expect(await new Retention(store, policy, pino({ level: "silent" })).run(now)).toBe(1);
    expect(store.queryEvents().map((e) => e.id)).toEqual(["b", "c"]);
    expect(existsSync(path.join(dir, "clips/gate/a.mp4"))).toBe(false);
    expect(existsSync(path.join(dir, "a.jpg"))).toBe(false);
    expect(existsSync(path.join(dir, "clips/gate/b.mp4"))).toBe(true);
    store.close();
  });
});
