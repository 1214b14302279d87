import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CameraConfig } from "../../agent/config/schema.js";
import type { RuleConfig } from "../../agent/analytics/camera-analytics.js";
import { emit, type Emitted, type RuleFrame } from "../../agent/core/records.js";
import { crossings, type CrossingRecord } from "../../agent/records/crossings.js";
import { Recorder } from "../../agent/events/recorder.js";
import { EventStore } from "../../agent/events/store.js";
import { addTally, countReports, counts, CountRule, intervalStart, localMidnight, totalOf, type CountRecord } from "../../agent/records/counts.js";
import { renderTemplate } from "../support/ha-discovery.js";

const MIN = 60_000;
const T0 = Date.parse("2026-12-01T10:00:00Z");

describe("interval alignment (pure)", () => {
  it("aligns to the clock in UTC", () => {
    expect(intervalStart(T0 + 14 * MIN + 59_999, 900, 0)).toBe(T0);
    expect(intervalStart(T0 + 15 * MIN, 900, 0)).toBe(T0 + 15 * MIN);
    expect(intervalStart(T0 - 1, 900, 0)).toBe(T0 - 15 * MIN);
    expect(intervalStart(T0 + 59 * MIN, 3600, 0)).toBe(T0);
  });

  it("aligns to the local clock: quarter hours in UTC+5:30 fall on :00, :15, :30, :45 local time", () => {
    const ist = 5.5 * 60 * MIN;
    // 10:07 UTC is 15:37 local: the interval started at 15:30 local, 10:00 UTC
    expect(intervalStart(T0 + 7 * MIN, 900, ist)).toBe(T0);
    // hours do not: 15:37 local is in the 15:00 local hour, 09:30 UTC
    expect(intervalStart(T0 + 7 * MIN, 3600, ist)).toBe(T0 - 30 * MIN);
    expect(localMidnight(T0, ist)).toBe(Date.parse("2026-11-30T18:30:00Z"));
    expect(localMidnight(T0, 0)).toBe(Date.parse("2026-12-01T00:00:00Z"));
  });

  it("adds tallies: counts add, peaks take the larger; totals sum the classes", () => {
    const a = { person: { in: 1, out: 2 }, car: { entries: 1, peak: 2 } };
    const b = { person: { in: 3, out: 0 }, car: { entries: 2, peak: 1 }, bike: { in: 1, out: 0 } };
    expect(addTally(a, b)).toEqual({ person: { in: 4, out: 2 }, car: { entries: 3, peak: 2 }, bike: { in: 1, out: 0 } });
    expect(a.person.in).toBe(1);
    expect(totalOf("line", { person: { in: 4, out: 2 }, bike: { in: 1, out: 0 } })).toEqual({ in: 5, out: 2 });
    expect(totalOf("zone", {})).toEqual({ entries: 0, peak: 0 });
  });
});

const cam = (interval = 900) => ({ lines: { door: {} }, zones: { yard: {} }, counts: { interval_seconds: interval } }) as unknown as CameraConfig;
type Crossing = Omit<CrossingRecord, "id" | "device" | "camera">;
// The crossings come as the line rule, listed before counts, emitted them for the frame.
const frame = (time: number, tracks: RuleFrame["tracks"] = [], made: Crossing[] = []): RuleFrame => ({
  time,
  tracks,
  live: [],
  ended: [],
  detections: [],
  usable: true,
  quality: () => 0,
  snapshot: () => "",
  emitted: made.map((c) => emit(crossings, c)),
  fix: null,
});
const settings = (camera: CameraConfig) => ({ camera }) as unknown as RuleConfig;
const records = (e: Emitted[]) => e.map((x) => x.record as CountRecord);

describe("the count rule (pure)", () => {
  it("counts crossings per class, zone entries once per stay and the peak per class, reporting each interval as the next begins", () => {
    const rule = CountRule.forCamera("cam", cam())!;
    expect(
      rule.observe(
        frame(T0 + 1000, [{ id: 1, label: "person", zones: ["yard"] }], [{ line: "door", direction: "in", label: "person", track_id: 1, time: T0 + 1000 }]),
      ),
    ).toEqual([]);
    rule.observe(
      frame(T0 + 2000, [
        { id: 1, label: "person", zones: ["yard"] },
        { id: 2, label: "person", zones: ["yard"] },
        { id: 3, label: "car", zones: ["yard"] },
      ]),
    );
    // 1 leaves and comes back: a second entry
    rule.observe(frame(T0 + 3000, [{ id: 2, label: "person", zones: ["yard"] }]));
    rule.observe(
      frame(
        T0 + 4000,
        [{ id: 1, label: "person", zones: ["yard"] }],
        [
          { line: "door", direction: "out", label: "car", track_id: 3, time: T0 + 4000 },
          { line: "elsewhere", direction: "in", label: "car", track_id: 3, time: T0 + 4000 },
        ],
      ),
    );
    const out = records(rule.observe(frame(T0 + 15 * MIN, [{ id: 1, label: "person", zones: ["yard"] }])));
    expect(out).toEqual([
      {
        camera: "cam",
        subject: "line",
        name: "door",
        interval_start: T0,
        interval_seconds: 900,
        classes: { person: { in: 1, out: 0 }, car: { in: 0, out: 1 } },
        complete: true,
      },
      {
        camera: "cam",
        subject: "zone",
        name: "yard",
        interval_start: T0,
        interval_seconds: 900,
        classes: { person: { entries: 3, peak: 2 }, car: { entries: 1, peak: 1 } },
        complete: true,
      },
    ]);
    // the next interval starts with what is in the zone now: a peak, not a new entry
    const partial = records(rule.endAll(T0 + 16 * MIN));
    expect(partial.map((r) => [r.interval_start, r.classes, r.complete])).toEqual([
      [T0 + 15 * MIN, {}, false],
      [T0 + 15 * MIN, { person: { entries: 0, peak: 1 } }, false],
    ]);
    expect(rule.endAll(T0 + 17 * MIN)).toEqual([]);
  });

  it("a camera without lines or zones has no rule; a reload with another interval ends the current one", () => {
    expect(CountRule.forCamera("cam", { lines: {}, zones: {}, counts: { interval_seconds: 900 } } as unknown as CameraConfig)).toBeNull();
    const rule = CountRule.forCamera("cam", cam())!;
    rule.observe(frame(T0 + 1000));
    expect(rule.reconfigure(settings(cam()), T0 + 2000)).toEqual([]);
    expect(records(rule.reconfigure(settings(cam(300)), T0 + 3000)).map((r) => [r.name, r.complete])).toEqual([
      ["door", false],
      ["yard", false],
    ]);
    rule.observe(frame(T0 + 6 * MIN));
    expect(records(rule.observe(frame(T0 + 10 * MIN))).map((r) => [r.interval_start, r.interval_seconds])).toEqual([
      [T0 + 5 * MIN, 300],
      [T0 + 5 * MIN, 300],
    ]);
  });
});

describe("count reports in SQLite and on MQTT", () => {
  let dir: string;
  let store: EventStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "eva-counts-"));
    store = new EventStore(join(dir, "eva.db"));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = (interval_start: number, classes: CountRecord["classes"], complete = true) =>
    Recorder.stamp<CountRecord>({ device: "dev1", camera: "cam", subject: "line", name: "door", interval_start, interval_seconds: 900, classes, complete });

  it("a partial report and the rest of its interval add up under one revision line; today sums the day's intervals", () => {
    const day = localMidnight(T0);
    const r = new Recorder(store);
    r.record(counts, report(day, { person: { in: 2, out: 1 } }));
    const [first] = r.record(counts, report(T0, { person: { in: 1, out: 0 } }, false));
    const [event, retained] = r.record(counts, report(T0, { person: { in: 1, out: 1 }, car: { in: 1, out: 0 } }));
    expect(first!.payload).toMatchObject({ revision: 1, complete: false });
    expect(event).toMatchObject({ topic: "counts", retain: false });
    expect(retained).toMatchObject({ topic: "counts/cam/lines/door", retain: true });
    expect(event!.payload).toMatchObject({
      device: "dev1",
      camera: "cam",
      subject: "line",
      line: "door",
      revision: 2,
      complete: true,
      interval: { start: new Date(T0).toISOString(), end: new Date(T0 + 15 * MIN).toISOString(), seconds: 900 },
      classes: { person: { in: 2, out: 1 }, car: { in: 1, out: 0 } },
      totals: { in: 3, out: 1 },
      today: { since: new Date(day).toISOString(), totals: { in: 5, out: 2 } },
    });
    const stored = store.inTransaction("q", (db) => countReports(db, { camera: "cam" }));
    expect(stored.map((x) => [x.interval, x.totals])).toEqual([
      [
        { start: new Date(day).toISOString(), end: new Date(day + 15 * MIN).toISOString(), seconds: 900 },
        { in: 2, out: 1 },
      ],
      [
        { start: new Date(T0).toISOString(), end: new Date(T0 + 15 * MIN).toISOString(), seconds: 900 },
        { in: 3, out: 1 },
      ],
    ]);
    // what the outbox sends is what is stored
    const sent = store
      .peekOutbox(0, 100)
      .filter((m) => m.topic === "counts")
      .map((m) => JSON.parse(m.payload));
    expect(sent.at(-1)).toEqual(stored.at(-1));
  });

  it("Home Assistant's sensors read today's totals from the retained report", () => {
    const [, retained] = new Recorder(store).record(counts, report(T0, { person: { in: 4, out: 2 } }));
    const entities = counts.discovery!("cam", { lines: ["door"], zones: ["yard"] }, (s) => `eva/dev1/${s}`);
    expect(entities.map(([c, id]) => `${c}/${id}`)).toEqual(["sensor/cam_door_in_today", "sensor/cam_door_out_today", "sensor/cam_yard_entries_today"]);
    const [, , inToday] = entities[0]!;
    expect(inToday.state_topic).toBe("eva/dev1/counts/cam/lines/door");
    expect(renderTemplate(inToday.value_template as string, JSON.stringify(retained!.payload))).toBe("4");
  });
});
