import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Config } from "../../agent/config/schema.js";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore } from "../../agent/events/store.js";
import { Persistence } from "../../agent/parts/persistence.js";
import { counts } from "../../agent/records/counts.js";
import { crossings } from "../../agent/records/crossings.js";

// A full disk, for real: SQLite's page cap on a real file (EventStoreOptions.maxBytes) fails writes with
// SQLITE_FULL exactly as a full filesystem does; the outbox draining (the broker taking messages) frees pages.

const ev = (i: number): EvaEvent => ({
  id: `01HELD${String(i).padStart(20, "0")}`,
  device: "d",
  camera: "a",
  label: "person",
  start_time: new Date(1_700_000_000_000 + i * 1000).toISOString(),
  end_time: null,
  top_score: 0.9,
  box: [1, 2, 3, 4],
  snapshot: null,
});

function persistence(maxHeld = 20_000) {
  const dir = mkdtempSync(path.join(tmpdir(), "eva-full-"));
  // 36 KiB for data beyond what the schema itself takes, whatever migrations add to it
  const probe = new EventStore(path.join(dir, "probe.db"));
  const schemaBytes = probe.inTransaction(
    "probe",
    (db) => (db.pragma("page_count", { simple: true }) as number) * (db.pragma("page_size", { simple: true }) as number),
  );
  probe.close();
  const p = new Persistence(pino({ level: "silent" }), { maxBytes: schemaBytes + 36 * 1024 }, maxHeld);
  p.start({ storage: { db: path.join(dir, "eva.db"), snapshots: path.join(dir, "snaps") } } as Config);
  return p;
}

const waitFor = async (cond: () => boolean, ms: number) => {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 50))) if (Date.now() > end) throw new Error("timed out");
};

describe("a full disk holds events, it does not drop them", () => {
  it("writes that fail for lack of space wait in memory, unhealthy meanwhile, and go in, in order, once space returns", async () => {
    const p = persistence();
    try {
      // until the disk is full, then 30 more
      let n = 0;
      for (; p.held.held === 0 && n < 100_000; n++) p.recordEvent("new", ev(n));
      for (const end = n + 30; n < end; n++) p.recordEvent("new", ev(n));
      expect(p.held.held).toBe(31);
      expect(p.healthReasons().join(" ")).toMatch(/cannot be written: \d+ writes held in memory .*SQLITE_FULL/);
      // the broker takes the queued messages: their pages are free again
      for (const row of p.store.peekOutbox(0, 10_000)) p.store.deleteOutbox(row.seq);
      await waitFor(() => p.held.held === 0, 10_000);
      expect(p.healthReasons()).toEqual([]);
      const ids = p.queryEvents({}).map((e) => e.id);
      expect(ids).toEqual([...Array(n).keys()].map((i) => ev(i).id));
      // and each announced in order once it was written
      const seqOrder = p.store.peekOutbox(0, 10_000).map((r) => (JSON.parse(r.payload) as { event: EvaEvent }).event.id);
      expect(seqOrder).toEqual(seqOrder.slice().sort());
    } finally {
      await p.stop();
    }
  });

  it("past the bound the oldest held writes go first, counted, and /healthz says so", async () => {
    const p = persistence(40);
    try {
      for (let i = 0; i < 800; i++) p.recordEvent("new", ev(i));
      expect(p.held.held).toBe(40);
      expect(p.held.dropped).toBeGreaterThan(0);
      expect(p.healthReasons().join(" ")).toMatch(/dropped over the bound/);
      for (const row of p.store.peekOutbox(0, 10_000)) p.store.deleteOutbox(row.seq);
      await waitFor(() => p.held.held === 0, 10_000);
      // the newest 40 made it
      expect(
        p
          .queryEvents({})
          .map((e) => e.id)
          .slice(-40),
      ).toEqual([...Array(40).keys()].map((i) => ev(760 + i).id));
    } finally {
      await p.stop();
    }
  });

  it("every record kind waits the same way: crossings and count reports keep their order and ids", async () => {
    const p = persistence();
    try {
      let n = 0;
      for (; p.held.held === 0 && n < 100_000; n++) p.recordEvent("new", ev(n));
      const made = [];
      for (let i = 0; i < 5; i++) {
        expect(p.record(crossings, { device: "d", camera: "a", line: "door", direction: "in", label: "person", track_id: i, time: 1000 + i })).toBeNull();
        made.push(i);
      }
      expect(
        p.record(counts, {
          device: "d",
          camera: "a",
          subject: "line",
          name: "door",
          interval_start: 0,
          interval_seconds: 900,
          classes: { person: { in: 5, out: 0 } },
          complete: true,
        }),
      ).toBeNull();
      for (const row of p.store.peekOutbox(0, 10_000)) p.store.deleteOutbox(row.seq);
      await waitFor(() => p.held.held === 0, 10_000);
      const rows = p.store.peekOutbox(0, 10_000);
      const sent = rows.filter((r) => r.topic === "crossings").map((r) => JSON.parse(r.payload) as { track_id: number; id: string; counts: { in: number } });
      expect(sent.map((c) => c.track_id)).toEqual(made);
      expect(sent.at(-1)!.counts).toEqual({ in: 5, out: 0 });
      expect(new Set(sent.map((c) => c.id)).size).toBe(5);
      const report = rows.filter((r) => r.topic === "counts/a/lines/door").map((r) => JSON.parse(r.payload) as { totals: unknown; revision: number });
      expect(report).toMatchObject([{ totals: { in: 5, out: 0 }, revision: 1 }]);
    } finally {
      await p.stop();
    }
  });
});
