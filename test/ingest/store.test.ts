import pg from "pg";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RECORD_KINDS, RecordError, recordKind, toRow } from "../../agent/ingest/records.js";
import { migrate, SCHEMA_VERSION } from "../../agent/ingest/schema.js";
import { batchStatement, writeBatch } from "../../agent/ingest/writer.js";
import { recordKinds } from "../../agent/records/registry.js";
import { eva } from "../support/agent.js";
import { TestPostgres } from "../support/postgres.js";

const log = pino({ level: "silent" });
let server: TestPostgres;
let pool: pg.Pool;

beforeAll(async () => {
  server = await TestPostgres.start();
  pool = new pg.Pool({ connectionString: server.url, max: 8 });
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await server?.dispose();
});

const ev = (type: string, over: Record<string, unknown> = {}) => ({
  type,
  event: {
    id: "01EV1",
    device: "d1",
    camera: "gate",
    label: "person",
    start_time: "2026-12-06T10:00:00.000Z",
    end_time: null,
    top_score: 0.7,
    box: [1, 2, 3, 4],
    snapshot: null,
    ...over,
  },
});
const events = recordKind("events")!;
const crossings = recordKind("crossings")!;
const stmt = batchStatement(RECORD_KINDS);

describe("ingest schema and writer (real PostgreSQL)", () => {
  it("five ingests migrating at once apply each migration once, PostGIS included", async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(pool, log)));
    const applied = results.flatMap((r) => r.applied);
    expect(applied.sort()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(results.every((r) => r.postgis)).toBe(true);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM schema_migrations");
    expect(rows[0].n).toBe(SCHEMA_VERSION);
  });

  it("a duplicate does nothing, a later revision replaces, an older one does not", async () => {
    const r1 = await writeBatch(pool, stmt, { rows: [toRow(events, "d1", ev("new")), toRow(events, "d1", ev("new"))], deadLetters: [], devices: [] });
    expect(r1.written.events).toBe(1);
    const again = await writeBatch(pool, stmt, { rows: [toRow(events, "d1", ev("new"))], deadLetters: [], devices: [] });
    expect(again.written.events ?? 0).toBe(0);
    await writeBatch(pool, stmt, {
      rows: [toRow(events, "d1", ev("end", { end_time: "2026-12-06T10:00:05.000Z", top_score: 0.9 }))],
      deadLetters: [],
      devices: [],
    });
    const late = await writeBatch(pool, stmt, { rows: [toRow(events, "d1", ev("update", { top_score: 0.8 }))], deadLetters: [], devices: [] });
    expect(late.written.events ?? 0).toBe(0);
    const { rows } = await pool.query("SELECT end_time, top_score, payload FROM events WHERE device = 'd1' AND id = '01EV1'");
    expect(rows).toHaveLength(1);
    expect(rows[0].top_score).toBe(0.9);
    expect(rows[0].payload.end_time).toBe("2026-12-06T10:00:05.000Z");
    // the message's revision (as the agent sends it) orders updates of one stage
    await writeBatch(pool, stmt, {
      rows: [
        toRow(events, "d1", { ...ev("end", { id: "01EV2", top_score: 0.5 }), revision: 3 }),
        toRow(events, "d1", { ...ev("end", { id: "01EV2", top_score: 0.4 }), revision: 2 }),
      ],
      deadLetters: [],
      devices: [],
    });
    const r2 = await pool.query("SELECT revision, top_score FROM events WHERE id = '01EV2'");
    expect(r2.rows[0]).toEqual({ revision: "3", top_score: 0.5 });
  });

  it("crossings without an id get one from camera, line, track and time; positions become PostGIS points", async () => {
    const c = {
      line: "door",
      direction: "in",
      label: "person",
      track_id: 7,
      camera: "gate",
      time: "2026-12-06T10:00:01.000Z",
      counts: { in: 1, out: 0 },
      lat: 52.5,
      lon: 13.4,
      extra_field: { a: 1 },
    };
    const w = await writeBatch(pool, stmt, {
      rows: [toRow(crossings, "d2", c), toRow(crossings, "d2", { ...c }), toRow(crossings, "d2", { ...c, id: "01CR" })],
      deadLetters: [],
      devices: [{ device: "d2", status: "online" }],
    });
    expect(w.written.crossings).toBe(2);
    const { rows } = await pool.query(
      "SELECT id, ST_X(geom) AS x, ST_Y(geom) AS y, payload->'extra_field' AS extra FROM crossings WHERE device = 'd2' ORDER BY id",
    );
    expect(rows.map((r) => r.id)).toEqual(["01CR", "gate/door/7/2026-12-06T10:00:01.000Z"]);
    expect(rows[0]).toMatchObject({ x: 13.4, y: 52.5, extra: { a: 1 } });
    const d = await pool.query("SELECT status, last_seen FROM devices WHERE device = 'd2'");
    expect(d.rows[0].status).toBe("online");
    expect(d.rows[0].last_seen).toBeInstanceOf(Date);
    // a will says the device is gone; it is not a sighting
    await writeBatch(pool, stmt, {
      rows: [],
      deadLetters: [],
      devices: [
        { device: "d2", status: "offline", seen: false },
        { device: "d3", status: "offline", seen: false },
      ],
    });
    const after = await pool.query("SELECT device, status, last_seen FROM devices WHERE device IN ('d2', 'd3') ORDER BY device");
    expect(after.rows).toEqual([
      { device: "d2", status: "offline", last_seen: d.rows[0].last_seen },
      { device: "d3", status: "offline", last_seen: null },
    ]);
  });

  it("every record stream of the agent's registry has a table; a count report's later revision replaces its interval's row", async () => {
    const streams = recordKinds.flatMap((k) => k.channels.filter((c) => !c.retained && !c.address.includes("{")).map((c) => c.address));
    expect(RECORD_KINDS.map((k) => k.topic)).toEqual(streams);
    const tables = await pool.query("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    for (const k of RECORD_KINDS) expect(tables.rows.map((r) => r.table_name)).toContain(k.table);
    const counts = recordKind("counts")!;
    const report = (revision: number, n: number) => ({
      id: `01CR${revision}`,
      device: "d4",
      camera: "gate",
      revision,
      subject: "line",
      line: "door",
      interval: { start: "2026-12-06T10:00:00.000Z", end: "2026-12-06T10:15:00.000Z", seconds: 900 },
      complete: revision > 1,
      classes: { person: { in: n, out: 0 } },
      totals: { in: n, out: 0 },
      today: { since: "2026-12-06T00:00:00.000Z", classes: { person: { in: n, out: 0 } }, totals: { in: n, out: 0 } },
      time: "2026-12-06T10:15:01.000Z",
    });
    await writeBatch(pool, stmt, { rows: [toRow(counts, "d4", report(1, 2))], deadLetters: [], devices: [] });
    const w = await writeBatch(pool, stmt, { rows: [toRow(counts, "d4", report(2, 5)), toRow(counts, "d4", report(1, 2))], deadLetters: [], devices: [] });
    expect(w.written.count_reports).toBe(1);
    const { rows } = await pool.query("SELECT id, revision, complete, interval_start, interval_seconds, line, totals FROM count_reports WHERE device = 'd4'");
    expect(rows).toEqual([
      {
        id: "gate/line/door/2026-12-06T10:00:00.000Z",
        revision: "2",
        complete: true,
        interval_start: new Date("2026-12-06T10:00:00.000Z"),
        interval_seconds: "900",
        line: "door",
        totals: { in: 5, out: 0 },
      },
    ]);
    // Grafana's views: a report's classes as rows
    const view = await pool.query('SELECT time, device, name, label, "in", "out", entries FROM fleet_counts WHERE device = \'d4\'');
    expect(view.rows).toEqual([{ time: new Date("2026-12-06T10:00:00.000Z"), device: "d4", name: "door", label: "person", in: "5", out: "0", entries: null }]);
    for (const v of ["fleet_devices", "fleet_events", "fleet_crossings", "fleet_alarms", "fleet_signs"]) await pool.query(`SELECT * FROM ${v} LIMIT 1`);
    const listed = await eva(["fleet", "counts", "--postgres", server.url, "--json"]);
    expect(JSON.parse(listed.stdout)).toEqual([{ ...report(2, 5), device: "d4" }]);
    expect(() => toRow(counts, "d4", { ...report(1, 1), subject: "other" })).toThrow(/'interval.start' are the key/);
  });

  it("a payload without its key fields is a RecordError naming the field", () => {
    expect(() => toRow(events, "d1", { type: "new", event: { camera: "x" } })).toThrow(RecordError);
    expect(() => toRow(events, "d1", { type: "new", event: { camera: "x" } })).toThrow(/'id'/);
    expect(() => toRow(crossings, "d1", [1, 2])).toThrow(/not a JSON object/);
    expect(() => toRow(events, "d1", { type: "bogus", event: {} })).toThrow(/new, update or end/);
  });

  it("eva fleet prints the stored records as the device published them, plus device; --since and --device filter", async () => {
    const r = await eva(["fleet", "events", "--postgres", server.url, "--device", "d1", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rows.map((e) => e.id).sort()).toEqual(["01EV1", "01EV2"]);
    expect(rows.find((e) => e.id === "01EV1")).toEqual({ ...ev("end", { end_time: "2026-12-06T10:00:05.000Z", top_score: 0.9 }).event, device: "d1" });
    const none = await eva(["fleet", "crossings", "--postgres", server.url, "--since", "2026-12-06T11:00:00Z", "--json"]);
    expect(JSON.parse(none.stdout)).toEqual([]);
    const some = await eva(["fleet", "crossings", "--postgres", server.url, "--since", "2026-12-06T10:00:00Z"]);
    expect(some.stdout.trim().split("\n")).toHaveLength(2);
    const devices = JSON.parse((await eva(["fleet", "devices", "--postgres", server.url, "--json"])).stdout) as Array<Record<string, unknown>>;
    expect(devices).toEqual([
      expect.objectContaining({ device: "d2", status: "offline" }),
      expect.objectContaining({ device: "d3", status: "offline", last_seen: null }),
    ]);
    const usage = await eva(["ingest"]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/eva ingest needs --mqtt URL and --postgres URL/);
    const geo = JSON.parse((await eva(["fleet", "crossings", "--postgres", server.url, "--geojson"])).stdout) as {
      type: string;
      features: Array<{ geometry: { coordinates: number[] }; properties: Record<string, unknown> }>;
    };
    expect(geo.type).toBe("FeatureCollection");
    expect(geo.features.map((f) => f.geometry.coordinates)).toEqual([
      [13.4, 52.5],
      [13.4, 52.5],
    ]);
    expect(geo.features[0]!.properties.device).toBe("d2");
    const bad = await eva(["fleet", "nope", "--postgres", server.url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/eva fleet needs one of events, crossings, signs, sign_assets, alarms, counts, devices/);
  });

  it("a role that may only read and write rows starts on a current schema and stores; it cannot delete or create", async () => {
    await pool.query("CREATE ROLE eva_writer LOGIN");
    await pool.query("GRANT USAGE ON SCHEMA public TO eva_writer");
    await pool.query("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO eva_writer");
    await pool.query("GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO eva_writer");
    const writer = new pg.Pool({ connectionString: server.url.replace("postgres@", "eva_writer@"), max: 2 });
    try {
      expect((await migrate(writer, log)).applied).toEqual([]);
      const crossing = {
        id: "01W",
        line: "door",
        direction: "in",
        label: "car",
        track_id: 1,
        camera: "gate",
        time: "2026-12-06T10:00:02.000Z",
        counts: { in: 1, out: 0 },
      };
      const r = await writeBatch(writer, stmt, {
        rows: [toRow(crossings, "d9", crossing)],
        deadLetters: [{ topic: "eva/d9/events", reason: "bad_json", bytes: 1, payload: Buffer.from("{") }],
        devices: [{ device: "d9", status: "online" }],
      });
      expect(r.written.crossings).toBe(1);
      await expect(writer.query("DELETE FROM crossings")).rejects.toThrow(/permission denied/);
      await expect(writer.query("CREATE TABLE x (a int)")).rejects.toThrow(/permission denied/);
    } finally {
      await writer.end();
    }
  });
});
