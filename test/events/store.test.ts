import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { migrations } from "../../agent/events/migrations.js";
import { EventStore, StoreError, newEventId } from "../../agent/events/store.js";
import { eventIdTime } from "../../agent/core/ulid.js";

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "eva-store-"));
  file = join(dir, "sub", "eva.db");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function event(over: Partial<EvaEvent> = {}): EvaEvent {
  return {
    id: newEventId(),
    device: "dev1",
    camera: "gate",
    label: "person",
    start_time: "2026-11-27T09:00:00.000Z",
    end_time: null,
    top_score: 0.8,
    box: [1, 2, 30, 40],
    snapshot: null,
    ...over,
  };
}

describe("EventStore", () => {
  it("migrates once; reopening applies nothing again", () => {
    new EventStore(file).close();
    const s = new EventStore(file);
    s.recordEvent("new", event());
    s.close();
    new EventStore(file).close();
    const db = new Database(file, { readonly: true });
    const rows = db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all();
    expect(rows).toEqual(migrations.map((m) => ({ version: m.version, name: m.name })));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
  });

  it("refuses a database newer than the code", () => {
    new EventStore(file).close();
    const db = new Database(file);
    db.prepare("INSERT INTO schema_migrations VALUES (999, 'future', 0)").run();
    db.close();
    expect(() => new EventStore(file)).toThrowError(expect.objectContaining({ code: "EVA_STORE", reason: "schema" }));
  });

  it("records the event and its outbox message together", () => {
    const s = new EventStore(file);
    const ev = event();
    const seq = s.recordEvent("new", ev);
    expect(s.queryEvents()).toEqual([ev]);
    expect(s.peekOutbox(0, 10)).toEqual([{ seq, topic: "events", payload: JSON.stringify({ type: "new", event: ev, revision: 1 }), qos: 1, retain: false }]);

    const ended = { ...ev, end_time: "2026-11-27T09:00:07.250Z", top_score: 0.9, snapshot: "snap/1.jpg" };
    s.recordEvent("end", ended);
    expect(s.queryEvents()).toEqual([ended]);
    expect(s.peekOutbox(0, 10).map((r) => [JSON.parse(r.payload).type, JSON.parse(r.payload).revision])).toEqual([
      ["new", 1],
      ["end", 2],
    ]);
    s.close();
  });

  it("writes neither row when the outbox insert fails", () => {
    const s = new EventStore(file);
    const db = new Database(file);
    db.exec("CREATE TRIGGER fail BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox broken'); END");
    db.close();
    let caught: unknown;
    try {
      s.recordEvent("new", event());
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StoreError);
    expect(caught).toMatchObject({ code: "EVA_STORE", op: "recordEvent" });
    expect(s.queryEvents()).toEqual([]);
    s.close();
  });

  it("keeps the outbox in enqueue order and deletes by seq", () => {
    const s = new EventStore(file);
    const seqs = [1, 2, 3, 4, 5].map((i) => s.enqueue(`t${i}`, `p${i}`, { qos: 1, retain: i === 5 }));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(s.outboxDepth()).toBe(5);
    expect(s.peekOutbox(0, 2).map((r) => r.topic)).toEqual(["t1", "t2"]);
    expect(s.peekOutbox(seqs[1], 10).map((r) => r.topic)).toEqual(["t3", "t4", "t5"]);
    expect(s.peekOutbox(seqs[3], 10)[0]).toMatchObject({ payload: "p5", retain: true });
    s.deleteOutbox(seqs[0]);
    s.deleteOutbox(seqs[2]);
    expect(s.peekOutbox(0, 10).map((r) => r.topic)).toEqual(["t2", "t4", "t5"]);
    expect(s.outboxDepth()).toBe(3);
    // seqs are never reused, even after the newest row is deleted
    s.deleteOutbox(seqs[4]);
    expect(s.enqueue("t6", "p6", { qos: 1, retain: false })).toBeGreaterThan(seqs[4]);
    s.close();
  });

  it("queries by camera, label and start time, oldest first", () => {
    const s = new EventStore(file);
    const a = event({ camera: "gate", label: "car", start_time: "2026-11-27T09:00:02.000Z" });
    const b = event({ camera: "gate", label: "person", start_time: "2026-11-27T09:00:01.000Z" });
    const c = event({ camera: "yard", label: "person", start_time: "2026-11-27T09:00:03.000Z" });
    for (const e of [a, b, c]) s.recordEvent("new", e);
    expect(s.queryEvents().map((e) => e.id)).toEqual([b.id, a.id, c.id]);
    expect(s.queryEvents({ camera: "gate" }).map((e) => e.id)).toEqual([b.id, a.id]);
    expect(s.queryEvents({ label: "person" }).map((e) => e.id)).toEqual([b.id, c.id]);
    expect(s.queryEvents({ sinceMs: Date.parse(a.start_time) }).map((e) => e.id)).toEqual([a.id, c.id]);
    expect(s.queryEvents({ label: "person", limit: 1 }).map((e) => e.id)).toEqual([b.id]);
    s.close();
  });

  it("reports a full disk as a StoreError and keeps what was stored", () => {
    // 64 KiB for data beyond what the schema itself takes, whatever migrations add to it
    const probe = new EventStore(`${file}.probe`);
    const schemaBytes = probe.inTransaction(
      "probe",
      (db) => (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number),
    );
    probe.close();
    const s = new EventStore(file, { maxBytes: schemaBytes + 64 * 1024 });
    let caught: unknown;
    let stored = 0;
    try {
      for (let i = 0; i < 5000; i++) {
        s.recordEvent("new", event({ snapshot: "x".repeat(200) }));
        stored++;
      }
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "EVA_STORE", reason: "full", sqliteCode: "SQLITE_FULL" });
    expect(stored).toBeGreaterThan(0);
    expect(s.queryEvents()).toHaveLength(stored);
    expect(s.outboxDepth()).toBe(stored);
    s.close();
  });

  it("opens read-only beside a writer; writes there fail with reason read_only", () => {
    const w = new EventStore(file);
    const ev = event();
    w.recordEvent("new", ev);
    const r = new EventStore(file, { readonly: true });
    expect(r.queryEvents()).toEqual([ev]);
    expect(() => r.enqueue("x", "y", { qos: 1, retain: false })).toThrowError(expect.objectContaining({ code: "EVA_STORE", reason: "read_only" }));
    r.close();
    w.close();
    expect(() => new EventStore(join(dir, "missing.db"), { readonly: true })).toThrowError(StoreError);
  });
});

describe("newEventId", () => {
  it("is a 26-char Crockford ULID, unique and increasing within a millisecond", () => {
    const now = Date.now();
    const ids = Array.from({ length: 10_000 }, () => newEventId(now));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 10)) expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(eventIdTime(ids[0])).toBe(now);
    // a clock stepping back still yields increasing ids
    expect(newEventId(now - 5000) > ids[ids.length - 1]).toBe(true);
    expect(newEventId(now + 1) > ids[ids.length - 1]).toBe(true);
  });
});
