import type Database from "better-sqlite3";
import { z } from "zod";
import type { RecordEnvelope, RecordKind, RecordMessage } from "../core/records.js";
import { cameraName, deviceId, recordId, time } from "./schema-parts.js";

export interface LineCounts {
  in: number;
  out: number;
}

/** Retained running totals per line, kept in SQLite (line_counts) so they survive restarts and retention. */
export const lineTotalsTopic = (camera: string, line: string): string => `lines/${camera}/${line}`;

export const lineCountsSchema = z
  .looseObject({
    camera: cameraName,
    line: z.string(),
    counts: z
      .looseObject({ in: z.number().int().min(0), out: z.number().int().min(0) })
      .describe("totals since the line was first counted (kept in SQLite across restarts)"),
    time: time.describe("the latest crossing, or when the agent started counting when there was none"),
    id: recordId.optional(),
    device: deviceId.optional(),
    revision: z.number().int().min(0).optional().describe("in + out: grows with every crossing, so the highest is the newest"),
  })
  .describe("retained on lines/<camera>/<line>: the line's running totals, with every crossing and once at start");

/** A line's totals as they stand now (zero for a line never crossed). */
export function lineCounts(db: Database.Database, camera: string, line: string): LineCounts {
  return (
    (db.prepare('SELECT in_count AS "in", out_count AS "out" FROM line_counts WHERE camera = ? AND line = ?').get(camera, line) as LineCounts | undefined) ?? {
      in: 0,
      out: 0,
    }
  );
}

/** The retained totals message of one line. */
export function lineTotalsMessage(r: RecordEnvelope & { line: string }, counts: LineCounts, timeMs: number): RecordMessage {
  return {
    topic: lineTotalsTopic(r.camera, r.line),
    payload: {
      camera: r.camera,
      line: r.line,
      counts: { in: counts.in, out: counts.out },
      time: new Date(timeMs).toISOString(),
      id: r.id,
      device: r.device,
      revision: counts.in + counts.out,
    },
    retain: true,
  };
}

export interface LineTotalsRecord extends RecordEnvelope {
  line: string;
  /** ms since epoch */
  time: number;
}

/**
 * The lines' totals as they stand, published (retained) when a camera's analytics start or its lines are
 * edited, so a dashboard shows a line's count before its first crossing of this run. Each crossing publishes
 * them too (crossings.ts), in the same transaction as the crossing.
 */
export const lineTotals: RecordKind<LineTotalsRecord> = {
  name: "line_totals",
  channels: [
    {
      id: "lineCounts",
      address: "lines/{camera}/{line}",
      schemaName: "LineCounts",
      schema: lineCountsSchema,
      title: "Line totals",
      retained: true,
      description:
        "Retained running totals of a counting line (in and out), with every crossing and once at start; what a dashboard or Home Assistant shows. Through the outbox, in order with crossings.",
    },
  ],
  migrations: [],
  write: (db, r) => [lineTotalsMessage(r, lineCounts(db, r.camera, r.line), r.time)],
  list: (db, q) =>
    db
      .prepare(
        'SELECT camera, line, in_count AS "in", out_count AS "out" FROM line_counts WHERE (@camera IS NULL OR camera = @camera) ORDER BY camera, line LIMIT @limit',
      )
      .all({ camera: q.camera ?? null, limit: q.limit }),
  discovery: (camera, shapes, topic) =>
    shapes.lines.flatMap((line) =>
      (["in", "out"] as const).map(
        (direction) =>
          [
            "sensor",
            `${camera}_${line}_${direction}`,
            {
              name: `${camera} ${line} ${direction}`,
              state_topic: topic(lineTotalsTopic(camera, line)),
              // counts['in'], not counts.in: `in` is a Jinja keyword.
              value_template: `{{ value_json.counts['${direction}'] }}`,
              // Totals live in SQLite and survive restarts; a decrease would mean the database was replaced.
              state_class: "total_increasing",
              icon: direction === "in" ? "mdi:arrow-right-bold" : "mdi:arrow-left-bold",
            },
          ] as const,
      ),
    ),
};
