import type Database from "better-sqlite3";
import { z } from "zod";
import type { AnalyticsRule, Emitted, RecordEnvelope, RecordKind, RecordMessage, RecordQuery, RuleFrame } from "../core/records.js";
import { emit } from "../core/records.js";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import type { CameraConfig } from "../config/schema.js";
import { crossings, type CrossingRecord } from "./crossings.js";
import { cameraName, deviceId, recordId, revision, time } from "./schema-parts.js";

// Count reports, the traffic-counting convention: per line (in/out) and per zone (entries, peak occupancy),
// per class and per interval aligned to the clock (15 minutes by default), with the totals since local
// midnight. An interval's report goes out when the first frame past its end arrives, and a partial one when the
// camera ends or is reconfigured; a later report of the same interval adds to it (its revision grows).

export const COUNTS_TOPIC = "counts";
export const countTopic = (camera: string, subject: Subject, name: string): string => `counts/${camera}/${subject}s/${name}`;

type Subject = "line" | "zone";
/** per class: lines count `in` and `out`, zones `entries` and `peak` (most objects in it at once) */
type Tally = Record<string, Record<string, number>>;

export interface CountRecord extends RecordEnvelope {
  subject: Subject;
  /** the line's or zone's name */
  name: string;
  /** ms since epoch */
  interval_start: number;
  interval_seconds: number;
  /** what happened since the last report of this interval, per class */
  classes: Tally;
  /** true when the interval is over; false for a partial report (camera ended, reloaded) */
  complete: boolean;
}

// --- Pure interval logic.

/** The local clock's offset from UTC at `t`, in ms (UTC+1 gives +3 600 000). */
export const localOffsetMs = (t: number): number => -new Date(t).getTimezoneOffset() * 60_000;

/** Start of the interval holding `t`, aligned to the local clock: 900 s intervals start at :00, :15, :30 and :45. */
export function intervalStart(t: number, intervalSeconds: number, offsetMs = localOffsetMs(t)): number {
  const len = intervalSeconds * 1000;
  return Math.floor((t + offsetMs) / len) * len - offsetMs;
}

/** Local midnight on or before `t`. */
export function localMidnight(t: number, offsetMs = localOffsetMs(t)): number {
  return intervalStart(t, 86_400, offsetMs);
}

/** Adds `b` into `a`: `peak` takes the larger, every other field adds. */
export function addTally(a: Tally, b: Tally): Tally {
  const out: Tally = structuredClone(a);
  for (const [label, fields] of Object.entries(b)) {
    const o = (out[label] ??= {});
    for (const [k, v] of Object.entries(fields)) o[k] = k === "peak" ? Math.max(o[k] ?? 0, v) : (o[k] ?? 0) + v;
  }
  return out;
}

/** The sum over classes, with the fields of `subject` present even when nothing was counted. */
export function totalOf(subject: Subject, t: Tally): Record<string, number> {
  const total: Record<string, number> = subject === "line" ? { in: 0, out: 0 } : { entries: 0, peak: 0 };
  for (const fields of Object.values(t)) {
    for (const [k, v] of Object.entries(fields)) total[k] = k === "peak" ? total[k]! + v : (total[k] ?? 0) + v;
  }
  return total;
}

interface RuleSettings {
  intervalSeconds: number;
  lines: string[];
  zones: string[];
}

const settingsOf = (cam: CameraConfig): RuleSettings => ({
  intervalSeconds: cam.counts.interval_seconds,
  lines: Object.keys(cam.lines),
  zones: Object.keys(cam.zones),
});

/** The crossings the line rule (listed before counts in the registry) made in this frame. */
const crossingsOf = (frame: RuleFrame): CrossingRecord[] =>
  frame.emitted.flatMap((e) => (e.kind === (crossings as unknown as Emitted["kind"]) ? [e.record as CrossingRecord] : []));

/**
 * One camera's counting: crossings per line and class, zone entries per zone and class (a track's first frame
 * in the zone), and the peak per zone and class (the most in the zone in one frame). Pure: frames in, records
 * out.
 */
export class CountRule implements AnalyticsRule<RuleConfig> {
  /** start of the interval being counted */
  private interval: number | null = null;
  private tallies = new Map<string, Tally>();
  /** zone + track pairs in the previous frame, to see entries */
  private inside = new Set<string>();

  constructor(
    private readonly camera: string,
    private settings: RuleSettings,
  ) {}

  static forCamera(camera: string, cam: CameraConfig): CountRule | null {
    const s = settingsOf(cam);
    return s.lines.length || s.zones.length ? new CountRule(camera, s) : null;
  }

  observe(frame: RuleFrame): Emitted[] {
    const out: Emitted[] = [];
    const start = intervalStart(frame.time, this.settings.intervalSeconds);
    if (this.interval !== null && start !== this.interval) out.push(...this.flush(true));
    this.interval = start;
    for (const c of crossingsOf(frame)) if (this.settings.lines.includes(c.line)) this.bump("line", c.line, c.label, c.direction, 1);
    const now = new Set<string>();
    const here = new Map<string, Map<string, number>>();
    for (const t of frame.tracks) {
      for (const zone of t.zones) {
        if (!this.settings.zones.includes(zone)) continue;
        const key = `${zone}\u0000${t.id}`;
        now.add(key);
        if (!this.inside.has(key)) this.bump("zone", zone, t.label, "entries", 1);
        const byLabel = here.get(zone) ?? new Map<string, number>();
        byLabel.set(t.label, (byLabel.get(t.label) ?? 0) + 1);
        here.set(zone, byLabel);
      }
    }
    this.inside = now;
    for (const [zone, byLabel] of here) {
      for (const [label, n] of byLabel) {
        const f = this.fields("zone", zone, label);
        f.peak = Math.max(f.peak ?? 0, n);
      }
    }
    return out;
  }

  reconfigure(c: RuleConfig, time: number): Emitted[] {
    const next = settingsOf(c.camera);
    if (JSON.stringify(next) === JSON.stringify(this.settings)) return [];
    const out = this.endAll(time);
    this.settings = next;
    return out;
  }

  endAll(_time: number): Emitted[] {
    const out = this.flush(false);
    this.inside.clear();
    this.interval = null;
    return out;
  }

  /** One report per configured line and zone for the interval now ending, zeros included. */
  private flush(complete: boolean): Emitted[] {
    if (this.interval === null) return [];
    const reports = [...this.settings.lines.map((name) => ["line", name] as const), ...this.settings.zones.map((name) => ["zone", name] as const)].map(
      ([subject, name]) =>
        emit(counts, {
          camera: this.camera,
          subject,
          name,
          interval_start: this.interval!,
          interval_seconds: this.settings.intervalSeconds,
          classes: this.tallies.get(`${subject}\u0000${name}`) ?? {},
          complete,
        }),
    );
    this.tallies = new Map();
    return reports;
  }

  private fields(subject: Subject, name: string, label: string): Record<string, number> {
    const key = `${subject}\u0000${name}`;
    const t = this.tallies.get(key) ?? {};
    this.tallies.set(key, t);
    return (t[label] ??= subject === "line" ? { in: 0, out: 0 } : { entries: 0, peak: 0 });
  }

  private bump(subject: Subject, name: string, label: string, field: string, n: number): void {
    const f = this.fields(subject, name, label);
    f[field] = (f[field] ?? 0) + n;
  }
}

// --- Stored and published.

const lineFields = z.looseObject({ in: z.number().int().min(0), out: z.number().int().min(0) });
const zoneFields = z.looseObject({ entries: z.number().int().min(0), peak: z.number().int().min(0).describe("most objects in the zone at once") });
const fields = z.union([lineFields, zoneFields]);

export const countReportSchema = z
  .looseObject({
    id: recordId,
    device: deviceId,
    camera: cameraName,
    revision: revision.describe("grows with every report of this interval (a partial one, then the rest)"),
    subject: z.enum(["line", "zone"]),
    line: z.string().optional().describe("the line, when subject is line"),
    zone: z.string().optional().describe("the zone, when subject is zone"),
    interval: z.looseObject({ start: time, end: time, seconds: z.number().int().min(1) }).describe("aligned to the local clock"),
    complete: z.boolean().describe("false while the interval is still open (the camera ended or was reloaded in it)"),
    classes: z.record(z.string(), fields).describe("per class: lines in/out, zones entries and peak"),
    totals: fields.describe("over all classes (a zone's peak is the sum of the classes' peaks)"),
    today: z
      .looseObject({ since: time.describe("local midnight"), classes: z.record(z.string(), fields), totals: fields })
      .describe("every interval since local midnight, this one included"),
    time: time.describe("when the report was made"),
  })
  .describe("a count report: per line or zone, per class and per interval (counts.interval_seconds, default 900)");

interface ReportRow {
  camera: string;
  subject: Subject;
  name: string;
  interval_start_ms: number;
  interval_seconds: number;
  classes: string;
  revision: number;
  complete: number;
  record_id: string;
  device: string;
  time_ms: number;
}

/** A stored report as its payload; `today` from the stored reports of its day. */
function payloadOf(db: Database.Database, r: ReportRow): Record<string, unknown> {
  const classes = JSON.parse(r.classes) as Tally;
  const since = localMidnight(r.interval_start_ms);
  const day = db
    .prepare("SELECT classes FROM count_reports WHERE camera = ? AND subject = ? AND name = ? AND interval_start_ms >= ? AND interval_start_ms <= ?")
    .all(r.camera, r.subject, r.name, since, r.interval_start_ms) as Array<{ classes: string }>;
  const today = day.reduce<Tally>((t, d) => addDay(t, JSON.parse(d.classes) as Tally), {});
  return {
    id: r.record_id,
    device: r.device,
    camera: r.camera,
    revision: r.revision,
    subject: r.subject,
    [r.subject]: r.name,
    interval: {
      start: new Date(r.interval_start_ms).toISOString(),
      end: new Date(r.interval_start_ms + r.interval_seconds * 1000).toISOString(),
      seconds: r.interval_seconds,
    },
    complete: r.complete === 1,
    classes,
    totals: totalOf(r.subject, classes),
    today: { since: new Date(since).toISOString(), classes: today, totals: totalOf(r.subject, today) },
    time: new Date(r.time_ms).toISOString(),
  };
}

/** Over a day, entries and crossings add up; the day's peak is the largest interval peak. */
const addDay = addTally;

const SELECT = "SELECT camera, subject, name, interval_start_ms, interval_seconds, classes, revision, complete, record_id, device, time_ms FROM count_reports";

/** Stored reports for `eva counts` and the console, oldest interval first, as published. */
export function countReports(
  db: Database.Database,
  q: Omit<RecordQuery, "label" | "limit"> & { limit?: number; newestFirst?: boolean },
): Record<string, unknown>[] {
  const rows = db
    .prepare(`${SELECT} WHERE (@camera IS NULL OR camera = @camera) AND interval_start_ms >= @since AND interval_start_ms < @until
      ORDER BY interval_start_ms ${q.newestFirst ? "DESC" : "ASC"}, camera, subject, name LIMIT @limit`)
    .all({ camera: q.camera ?? null, since: q.sinceMs ?? 0, until: q.untilMs ?? Number.MAX_SAFE_INTEGER, limit: q.limit ?? -1 }) as ReportRow[];
  return rows.map((r) => payloadOf(db, r));
}

const intervalField = (r: Record<string, unknown>, k: "start" | "seconds"): unknown =>
  r.interval && typeof r.interval === "object" ? ((r.interval as Record<string, unknown>)[k] ?? null) : null;

export const counts: RecordKind<CountRecord, RuleConfig> = {
  name: "counts",
  channels: [
    {
      id: "counts",
      address: "counts",
      schemaName: "CountReport",
      schema: countReportSchema,
      title: "Count reports",
      description: "Every line's and zone's count report per interval, QoS 1 from the durable outbox; a report sent again has the same id.",
      fleet: {
        table: "count_reports",
        // One row per line or zone and interval: a later report of the interval (its revision grows) replaces it.
        key: (r) => {
          const i = r.interval as { start?: unknown } | undefined;
          const subject = r.subject === "line" || r.subject === "zone" ? r.subject : null;
          if (!subject || typeof r[subject] !== "string" || typeof r.camera !== "string" || typeof i?.start !== "string")
            throw new Error("'camera', 'subject', its line or zone and 'interval.start' are the key");
          return `${r.camera}/${subject}/${r[subject] as string}/${i.start}`;
        },
        time: "interval_start",
        columns: {
          interval_start: { type: "timestamptz", from: (r) => intervalField(r, "start") },
          interval_seconds: { type: "bigint", from: (r) => intervalField(r, "seconds") },
        },
      },
    },
    {
      id: "lineCountReport",
      address: "counts/{camera}/lines/{line}",
      schemaName: "CountReport",
      schema: countReportSchema,
      title: "Latest count report of a line",
      retained: true,
      description: "Retained: the line's latest report (per class in/out for the interval and since midnight).",
    },
    {
      id: "zoneCountReport",
      address: "counts/{camera}/zones/{zone}",
      schemaName: "CountReport",
      schema: countReportSchema,
      title: "Latest count report of a zone",
      retained: true,
      description: "Retained: the zone's latest report (per class entries and peak for the interval and since midnight).",
    },
  ],
  migrations: [
    {
      version: 1,
      name: "count reports per line or zone and interval",
      up(db) {
        db.exec(`
          CREATE TABLE count_reports (
            camera            TEXT NOT NULL,
            subject           TEXT NOT NULL CHECK (subject IN ('line', 'zone')),
            name              TEXT NOT NULL,
            interval_start_ms INTEGER NOT NULL,
            interval_seconds  INTEGER NOT NULL,
            classes           TEXT NOT NULL,  -- JSON {label: {in, out} | {entries, peak}}
            revision          INTEGER NOT NULL,
            complete          INTEGER NOT NULL,
            record_id         TEXT NOT NULL,
            device            TEXT NOT NULL,
            time_ms           INTEGER NOT NULL,
            PRIMARY KEY (camera, subject, name, interval_start_ms)
          );
          CREATE INDEX count_reports_start ON count_reports (interval_start_ms);
        `);
      },
    },
  ],
  write(db, r): RecordMessage[] {
    const key = [r.camera, r.subject, r.name, r.interval_start];
    const old = db.prepare(`${SELECT} WHERE camera = ? AND subject = ? AND name = ? AND interval_start_ms = ?`).get(...key) as ReportRow | undefined;
    const row: ReportRow = {
      camera: r.camera,
      subject: r.subject,
      name: r.name,
      interval_start_ms: r.interval_start,
      interval_seconds: r.interval_seconds,
      classes: JSON.stringify(old ? addTally(JSON.parse(old.classes) as Tally, r.classes) : r.classes),
      revision: (old?.revision ?? 0) + 1,
      complete: r.complete || old?.complete === 1 ? 1 : 0,
      record_id: r.id,
      device: r.device,
      time_ms: Date.now(),
    };
    db.prepare(`
      INSERT INTO count_reports (camera, subject, name, interval_start_ms, interval_seconds, classes, revision, complete, record_id, device, time_ms)
      VALUES (@camera, @subject, @name, @interval_start_ms, @interval_seconds, @classes, @revision, @complete, @record_id, @device, @time_ms)
      ON CONFLICT (camera, subject, name, interval_start_ms) DO UPDATE SET classes = excluded.classes, revision = excluded.revision,
        complete = excluded.complete, record_id = excluded.record_id, device = excluded.device, time_ms = excluded.time_ms`).run(row);
    const payload = payloadOf(db, row);
    return [
      { topic: COUNTS_TOPIC, payload, retain: false },
      { topic: countTopic(r.camera, r.subject, r.name), payload, retain: true },
    ];
  },
  prune: (db, beforeMs) => void db.prepare("DELETE FROM count_reports WHERE interval_start_ms < ?").run(beforeMs),
  list: (db, q) => countReports(db, { ...q, newestFirst: true }),
  command: {
    name: "counts",
    help: "count reports per line/zone, class and interval, with since-midnight totals",
    rows: (db, q) => countReports(db, q),
    line: (r: ReturnType<typeof payloadOf>) => {
      const i = r.interval as { start: string; seconds: number };
      const classes = Object.entries(r.classes as Tally).map(
        ([label, f]) =>
          `${label} ${Object.entries(f)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}`,
      );
      return `${i.start}  ${String(i.seconds / 60).padStart(3)} min  ${String(r.camera).padEnd(12)} ${`${String(r.subject)} ${String(r[r.subject as string])}`.padEnd(20)} ${classes.join("; ") || "-"}${r.complete ? "" : "  (partial)"}`;
    },
  },
  discovery: (camera, shapes, topic) => [
    ...shapes.lines.flatMap((line) =>
      (["in", "out"] as const).map(
        (f) =>
          [
            "sensor",
            `${camera}_${line}_${f}_today`,
            {
              name: `${camera} ${line} ${f} today`,
              state_topic: topic(countTopic(camera, "line", line)),
              value_template: `{{ value_json.today.totals['${f}'] }}`,
              // Since midnight: the drop to zero at midnight is a reset, which total_increasing expects.
              state_class: "total_increasing",
              icon: "mdi:counter",
            },
          ] as const,
      ),
    ),
    ...shapes.zones.map(
      (zone) =>
        [
          "sensor",
          `${camera}_${zone}_entries_today`,
          {
            name: `${camera} ${zone} entries today`,
            state_topic: topic(countTopic(camera, "zone", zone)),
            value_template: "{{ value_json.today.totals.entries }}",
            state_class: "total_increasing",
            icon: "mdi:counter",
          },
        ] as const,
    ),
  ],
  rule: (camera, c) => CountRule.forCamera(camera, c.camera),
};
