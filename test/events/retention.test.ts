import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
