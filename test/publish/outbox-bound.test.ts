import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EvaEvent } from "../../agent/core/event.js";
import { EventStore, newEventId } from "../../agent/events/store.js";
import { OutboxBound, planBound, type BoundRow } from "../../agent/publish/outbox-bound.js";

const ev = (id: string): EvaEvent => ({
  id,
  device: "d",
  camera: "gate",
  label: "person",
  start_time: new Date(0).toISOString(),
  end_time: null,
  top_score: 0.9,
  box: [0, 0, 1, 1],
  snapshot: null,
});
const row = (seq: number, type: string, id: string, created_ms = 1000): BoundRow => ({
  seq,
  topic: "events",
  payload: JSON.stringify({ type, event: ev(id) }),
  retain: false,
  created_ms,
});

describe("outbox bound (pure plan)", () => {
  it("within bounds: nothing", () => {
    expect(planBound([row(1, "new", "a"), row(2, "update", "a")], { maxRows: 5, maxAgeMs: 1e9 }, 2000)).toEqual({ compact: [], drop: [], dropped: {} });
  });

  it("over max_rows: superseded updates and older retained values go first, then the oldest updates, new/end last", () => {
    const status = (seq: number, state: string): BoundRow => ({
      seq,
      topic: "cameras/gate/status",
      payload: `{"state":"${state}"}`,
      retain: true,
      created_ms: 1000,
    });
    const rows = [
      row(1, "new", "a"),
      row(2, "update", "a"),
      row(3, "update", "a"),
      status(4, "offline"),
      row(5, "new", "b"),
      row(6, "update", "b"),
      status(7, "online"),
      row(8, "end", "a"),
    ];
    expect(planBound(rows, { maxRows: 5, maxAgeMs: 1e9 }, 2000)).toEqual({ compact: [2, 3, 4], drop: [], dropped: {} });
    // b's update is b's latest state: dropped (counted) only after every superseded message is gone
    expect(planBound(rows, { maxRows: 4, maxAgeMs: 1e9 }, 2000)).toEqual({ compact: [2, 3, 4], drop: [6], dropped: { "events:update": 1 } });
    expect(planBound(rows, { maxRows: 2, maxAgeMs: 1e9 }, 2000)).toEqual({
      compact: [2, 3, 4],
      drop: [6, 1, 5],
      dropped: { "events:update": 1, "events:new": 2 },
    });
  });

  it("drops messages older than max_age whatever they are", () => {
    const plan = planBound([row(1, "new", "a", 0), row(2, "end", "a", 5000)], { maxRows: 100, maxAgeMs: 3000 }, 6000);
    expect(plan).toEqual({ compact: [], drop: [1], dropped: { "events:new": 1 } });
  });
});

describe("outbox bound on a real store", () => {
  let dir: string;
  let store: EventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "eva-bound-"));
    store = new EventStore(join(dir, "eva.db"));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every event's new and end and its latest state through a long outage, counting and logging what goes", () => {
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      const e = ev(newEventId());
      ids.push(e.id);
      store.recordEvent("new", e);
      for (let u = 0; u < 8; u++) store.recordEvent("update", { ...e, top_score: 0.5 + u / 20 });
      store.recordEvent("end", { ...e, end_time: new Date(1000).toISOString() });
    }
    expect(store.outboxDepth()).toBe(500);
    const lines: string[] = [];
    const bound = new OutboxBound(store, { maxRows: 120, maxAgeMs: 3_600_000 }, pino({}, { write: (l: string) => void lines.push(l) }));
    const plan = bound.check()!;
    expect(bound.compacted).toBe(400);
    expect(bound.dropped).toBe(0);
    expect(plan.drop).toEqual([]);
    const left = store.listOutbox(0, 1000).map((r) => JSON.parse(r.payload) as { type: string; event: EvaEvent });
    expect(left).toHaveLength(100);
    expect(left.map((m) => m.type)).toEqual(ids.flatMap(() => ["new", "end"]));
    expect(lines.join("")).toContain("outbox compacted");

    // Still too many: new/end go, oldest first, and every one is counted and logged
    const tight = new OutboxBound(store, { maxRows: 100 - 10, maxAgeMs: 3_600_000 }, pino({}, { write: (l: string) => void lines.push(l) }));
    tight.check();
    expect(tight.dropped).toBe(10);
    expect(store.outboxDepth()).toBe(90);
    expect(lines.join("")).toContain("messages dropped");
    expect(tight.check()).toBeNull();
  });
});
