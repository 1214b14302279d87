import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HeldWrites } from "../../agent/events/held-writes.js";
import { migrate, migrations } from "../../agent/events/migrations.js";
import { Recorder } from "../../agent/events/recorder.js";
import { SignStore } from "../../agent/events/sign-store.js";
import { EventStore, newEventId, StoreError } from "../../agent/events/store.js";
import { crossings, type CrossingRecord } from "../../agent/records/crossings.js";
import { lineCounts, lineTotals } from "../../agent/records/line-totals.js";
import { occupancy, type OccupancyRecord } from "../../agent/records/occupancy.js";
import { recordKinds } from "../../agent/records/registry.js";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eva-recorder-"));
  file = join(dir, "eva.db");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const crossing = (camera: string, direction: "in" | "out", track_id: number, time: number): CrossingRecord =>
  Recorder.stamp<CrossingRecord>({ device: "dev1", camera, line: "door", direction, label: "person", track_id, time });
const counts = (s: EventStore, camera: string, line: string) => s.inTransaction("counts", (db) => lineCounts(db, camera, line));

describe("the recorder: any record kind's rows and outbox entries in one transaction", () => {
  it("crossings: counts per line survive a restart; each crossing is queued on `crossings` with its id and device, then the retained totals", () => {
    let s = new EventStore(file);
    let r = new Recorder(s);
    r.record(crossings, crossing("gate", "in", 3, Date.parse("2026-11-27T10:00:00Z")));
    r.record(crossings, crossing("gate", "out", 4, Date.parse("2026-11-27T10:00:01Z")));
    r.record(crossings, crossing("yard", "in", 1, 0));
    s.close();

    s = new EventStore(file);
    r = new Recorder(s);
    expect(counts(s, "gate", "door")).toEqual({ in: 1, out: 1 });
    expect(counts(s, "gate", "never")).toEqual({ in: 0, out: 0 });
    const c = crossing("gate", "in", 9, Date.parse("2026-11-27T10:00:05Z"));
    const [msg] = r.record(crossings, c);
    expect(msg!.payload).toEqual({
      id: c.id,
      device: "dev1",
      line: "door",
      direction: "in",
      label: "person",
      track_id: 9,
      camera: "gate",
      time: "2026-11-27T10:00:05.000Z",
      counts: { in: 2, out: 1 },
    });
    const rows = s.peekOutbox(0, 20);
    const sent = rows.filter((row) => row.topic === "crossings");
    expect(sent).toHaveLength(4);
    expect(JSON.parse(sent.at(-1)!.payload)).toEqual(msg!.payload);
    expect(sent.every((row) => row.qos === 1 && !row.retain)).toBe(true);
    expect(new Set(sent.map((row) => JSON.parse(row.payload).id)).size).toBe(4);
    expect(rows.map((row) => row.topic)).toEqual([
      "crossings",
      "lines/gate/door",
      "crossings",
      "lines/gate/door",
      "crossings",
      "lines/yard/door",
      "crossings",
      "lines/gate/door",
    ]);
    const totals = rows.at(-1)!;
    expect(totals.retain).toBe(true);
    expect(JSON.parse(totals.payload)).toMatchObject({
      camera: "gate",
      line: "door",
      counts: { in: 2, out: 1 },
      time: "2026-11-27T10:00:05.000Z",
      device: "dev1",
      revision: 3,
    });
    s.close();
  });

  it("line totals as they stand (zero for a line never crossed), retained", () => {
    const s = new EventStore(file);
    const r = new Recorder(s);
    r.record(crossings, crossing("gate", "out", 1, 0));
    const before = s.peekOutbox(0, 20).length;
    for (const line of ["door", "new"])
      r.record(lineTotals, Recorder.stamp({ device: "dev1", camera: "gate", line, time: Date.parse("2026-12-01T00:00:00Z") }));
    const rows = s.peekOutbox(0, 20).slice(before);
    expect(rows.map((row) => [row.topic, row.retain, JSON.parse(row.payload).counts])).toEqual([
      ["lines/gate/door", true, { in: 0, out: 1 }],
      ["lines/gate/new", true, { in: 0, out: 0 }],
    ]);
    s.close();
  });

  it("occupancy keeps a revision per zone across restarts", () => {
    let s = new EventStore(file);
    const o = (total: number) =>
      Recorder.stamp<OccupancyRecord>({ device: "dev1", camera: "gate", zone: "yard", counts: total ? { person: total } : {}, total, time: 1000 });
    new Recorder(s).record(occupancy, o(1));
    new Recorder(s).record(occupancy, o(0));
    s.close();
    s = new EventStore(file);
    const [m] = new Recorder(s).record(occupancy, o(2));
    expect(m).toMatchObject({
      topic: "occupancy/gate/yard",
      retain: true,
      payload: { zone: "yard", camera: "gate", counts: { person: 2 }, total: 2, revision: 3, device: "dev1" },
    });
    s.close();
  });

  it("a write that fails leaves neither its rows nor its messages", () => {
    const s = new EventStore(file);
    const c = crossing("gate", "in", 1, 0);
    new Recorder(s).record(crossings, c);
    // The same record id again violates the unique index: the transaction rolls back whole.
    expect(() => new Recorder(s).record(crossings, { ...c, direction: "out" })).toThrow(StoreError);
    expect(counts(s, "gate", "door")).toEqual({ in: 1, out: 0 });
    expect(s.peekOutbox(0, 20)).toHaveLength(2);
    s.close();
  });

  it("held writes (disk full) keep their record ids and go in, in order, once the store can write", () => {
    const s = new EventStore(file);
    const held = new HeldWrites(100, pino({ level: "silent" }));
    const r = new Recorder(s);
    let full = true;
    const write = (c: CrossingRecord) => {
      if (full) throw new StoreError("record crossings", "full", file, "database or disk is full");
      return r.record(crossings, c);
    };
    const made = [crossing("gate", "in", 1, 1), crossing("gate", "out", 2, 2)];
    for (const c of made) expect(held.run("record crossings", write, c)).toBeUndefined();
    full = false;
    expect(held.flush()).toBe(true);
    const sent = s
      .peekOutbox(0, 20)
      .filter((row) => row.topic === "crossings")
      .map((row) => JSON.parse(row.payload).id);
    expect(sent).toEqual(made.map((c) => c.id));
    s.close();
  });
});

describe("migrations", () => {
  it("a database of schema version 2 upgrades with its rows kept; every kind's tables are added once", () => {
    const db = new Database(file);
    migrate(
      db,
      migrations.filter((m) => m.version <= 2),
    );
    db.prepare("INSERT INTO crossings (camera, line, direction, label, track_id, time_ms) VALUES ('gate', 'door', 'in', 'person', 1, 5)").run();
    db.prepare("INSERT INTO line_counts (camera, line, in_count, out_count) VALUES ('gate', 'door', 7, 2)").run();
    db.prepare(
      "INSERT INTO sign_sightings (id, camera, label, score, first_ms, last_ms, box, track_id) VALUES ('s1', 'road', 'stop', 0.9, 1, 2, '[1,2,3,4]', 1)",
    ).run();
    db.close();

    let s = new EventStore(file);
    expect(counts(s, "gate", "door")).toEqual({ in: 7, out: 2 });
    new Recorder(s).record(crossings, crossing("gate", "out", 2, 10));
    expect(counts(s, "gate", "door")).toEqual({ in: 7, out: 3 });
    expect(crossings.list!(new Database(file, { readonly: true }), { limit: 10 })).toHaveLength(2);
    expect(new SignStore(s).sightings().map((x) => x.id)).toEqual(["s1"]);
    s.close();
    // Opening again applies nothing twice, and a read-only open sees a current schema.
    s = new EventStore(file);
    s.close();
    const ro = new EventStore(file, { readonly: true });
    ro.close();
    const applied = new Database(file, { readonly: true }).prepare("SELECT kind, version FROM record_kind_migrations ORDER BY kind, version").all();
    expect(applied).toEqual(
      recordKinds
        .flatMap((k) => k.migrations.map((m) => ({ kind: k.name, version: m.version })))
        .sort((a, b) => a.kind.localeCompare(b.kind) || a.version - b.version),
    );
  });

  it("a read-only open of a database without the kinds' tables says so", () => {
    const db = new Database(file);
    migrate(db);
    db.close();
    expect(() => new EventStore(file, { readonly: true })).toThrow(/lacks the record tables of events:1, events:2, crossings:1/);
  });
});

describe("events and sightings through the store", () => {
  it("events keep their tracking fields", () => {
    const s = new EventStore(file);
    const ev = {
      id: newEventId(),
      device: "d",
      camera: "gate",
      label: "person",
      start_time: "2026-11-27T09:00:00.000Z",
      end_time: null,
      top_score: 0.9,
      box: [1, 2, 3, 4] as [number, number, number, number],
      snapshot: null,
      track_id: 12,
      current_zones: ["lobby"],
      entered_zones: ["street", "lobby"],
      stationary: false,
    };
    s.recordEvent("new", ev);
    expect(s.queryEvents()).toEqual([ev]);
    s.close();
  });

  it("sightings are stored, queued on `signs` with their device, and kept in an inventory per camera", () => {
    const s = new EventStore(file);
    const signs = new SignStore(s);
    const sighting = (id: string, label: string, last: string) => ({
      id,
      device: "dev1",
      camera: "road",
      label,
      score: 0.9,
      first_seen: "2026-11-27T10:00:00.000Z",
      last_seen: last,
      box: [1, 2, 3, 4] as [number, number, number, number],
      track_id: 1,
      snapshot: null,
      ...{ lat: null, lon: null, heading: null, speed: null, fix: "none" as const, sign_lat: null, sign_lon: null },
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
