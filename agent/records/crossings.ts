import { z } from "zod";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import { LineCrossings, type LineSpec } from "../analytics/line-crossings.js";
import { emit, type AnalyticsRule, type Emitted, type RecordEnvelope, type RecordKind, type RuleFrame } from "../core/records.js";
import { lineCounts, lineTotals, lineTotalsMessage, type LineCounts } from "./line-totals.js";
import { cameraName, deviceId, recordId, required, time } from "./schema-parts.js";

export const CROSSINGS_TOPIC = "crossings";

export interface CrossingRecord extends RecordEnvelope {
  line: string;
  direction: "in" | "out";
  label: string;
  track_id: number;
  /** ms since epoch */
  time: number;
}

/** The `crossings` MQTT payload (one message per crossing). */
export interface CrossingMessage {
  id: string;
  device: string;
  line: string;
  direction: CrossingRecord["direction"];
  label: string;
  track_id: number;
  camera: string;
  /** ISO 8601 UTC */
  time: string;
  /** the line's totals including this crossing */
  counts: LineCounts;
}

export const crossingSchema = z
  .looseObject({
    line: z.string(),
    direction: z.enum(["in", "out"]),
    label: z.string(),
    track_id: z.union([z.number(), z.string()]),
    camera: cameraName,
    time,
    counts: z.looseObject({ in: z.number().int().min(0), out: z.number().int().min(0) }).describe("totals for this line"),
    id: recordId.optional(),
    device: deviceId.optional(),
  })
  .describe("an object crossed a counting line");

/**
 * Line crossings: each crossing, the line's running totals and the `crossings` and retained totals messages
 * commit in one transaction, so the totals a control room sees always match the database, across restarts.
 */
export const crossings: RecordKind<CrossingRecord, RuleConfig> = {
  name: "crossings",
  channels: [
    {
      id: "crossings",
      address: "crossings",
      schemaName: "Crossing",
      schema: crossingSchema,
      title: "Line crossings",
      description: "One message per object crossing a configured line.",
      fleet: {
        // Devices from before crossings had ids: camera, line, track and time name one crossing just as well.
        key: (c) => (typeof c.id === "string" && c.id ? c.id : ["camera", "line", "track_id", "time"].map((k) => required(c, k)).join("/")),
      },
    },
  ],
  migrations: [
    {
      version: 1,
      name: "record id and device on crossings",
      up(db) {
        db.exec(`
          ALTER TABLE crossings ADD COLUMN record_id TEXT;
          ALTER TABLE crossings ADD COLUMN device TEXT;
          CREATE UNIQUE INDEX crossings_record_id ON crossings (record_id);
        `);
      },
    },
  ],
  write(db, c) {
    db.prepare("INSERT INTO crossings (camera, line, direction, label, track_id, time_ms, record_id, device) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(
      c.camera,
      c.line,
      c.direction,
      c.label,
      c.track_id,
      c.time,
      c.id,
      c.device,
    );
    db.prepare(`
      INSERT INTO line_counts (camera, line, in_count, out_count) VALUES (@camera, @line, @in, @out)
      ON CONFLICT (camera, line) DO UPDATE SET in_count = in_count + @in, out_count = out_count + @out`).run({
      camera: c.camera,
      line: c.line,
      in: c.direction === "in" ? 1 : 0,
      out: c.direction === "out" ? 1 : 0,
    });
    const counts = lineCounts(db, c.camera, c.line);
    const msg: CrossingMessage = {
      line: c.line,
      direction: c.direction,
      label: c.label,
      track_id: c.track_id,
      camera: c.camera,
      time: new Date(c.time).toISOString(),
      counts,
      id: c.id,
      device: c.device,
    };
    return [{ topic: CROSSINGS_TOPIC, payload: msg, retain: false }, lineTotalsMessage(c, counts, c.time)];
  },
  // The lines' totals stay: they are state, not history.
  prune: (db, beforeMs) => void db.prepare("DELETE FROM crossings WHERE time_ms < ?").run(beforeMs),
  counter: {
    name: "eva_line_crossings_total",
    help: "Objects that crossed a counting line, by line and direction",
    labelNames: ["camera", "line", "direction", "label"],
    labels: (c) => ({ camera: c.camera, line: c.line, direction: c.direction, label: c.label }),
  },
  list: (db, q) =>
    (
      db
        .prepare(
          `SELECT id, record_id, device, camera, line, direction, label, track_id, time_ms FROM crossings
           WHERE (@camera IS NULL OR camera = @camera) AND (@label IS NULL OR label = @label) AND time_ms >= @since AND time_ms < @until
           ORDER BY time_ms DESC, id DESC LIMIT @limit`,
        )
        .all({ camera: q.camera ?? null, label: q.label ?? null, since: q.sinceMs ?? 0, until: q.untilMs ?? Number.MAX_SAFE_INTEGER, limit: q.limit }) as Array<
        { time_ms: number } & Record<string, unknown>
      >
    ).map(({ time_ms, ...c }) => ({ ...c, time: new Date(time_ms).toISOString() })),
  rule: (_camera, c) => (c.analytics.lines.length ? new LineRule(c.analytics.lines) : null),
};

/**
 * A camera's counting lines: one crossing record per crossing (with the line's totals), and the lines' totals
 * as they stand when the camera starts or its lines are edited, so a dashboard shows them before the first
 * crossing of this run.
 */
export class LineRule implements AnalyticsRule<RuleConfig> {
  private lines: LineCrossings;

  constructor(private specs: readonly LineSpec[]) {
    this.lines = new LineCrossings(specs);
  }

  start(time: number): Emitted[] {
    return this.specs.map((l) => emit(lineTotals, { line: l.name, time }));
  }

  observe(frame: RuleFrame): Emitted[] {
    return this.lines.observe(frame.time, frame.live).map((c) => emit(crossings, { ...c }));
  }

  reconfigure(c: RuleConfig, time: number): Emitted[] {
    this.specs = c.analytics.lines;
    this.lines = new LineCrossings(this.specs);
    return this.start(time);
  }

  endAll(): Emitted[] {
    return [];
  }
}
