import type Database from "better-sqlite3";
import type { Crossing } from "../analytics/line-crossings.js";
import type { EventStore } from "./store.js";

export interface LineCounts {
  in: number;
  out: number;
}

/** The `crossings` MQTT payload (one message per crossing). */
export interface CrossingMessage {
  line: string;
  direction: Crossing["direction"];
  label: string;
  track_id: number;
  camera: string;
  /** ISO 8601 UTC */
  time: string;
  /** the line's totals including this crossing */
  counts: LineCounts;
}

export const CROSSINGS_TOPIC = "crossings";
/** Retained running totals per line; agent/publish/topics.ts re-exports it as lineCountsTopic (events sit below publish). */
export const lineTotalsTopic = (camera: string, line: string): string => `lines/${camera}/${line}`;

/**
 * Line crossings in the event store: each crossing, the line's running totals and the `crossings` message
 * commit in one transaction, so the totals a control room sees always match the database, across restarts.
 */
export class CrossingStore {
  private stmt: {
    insert: Database.Statement;
    bump: Database.Statement;
    counts: Database.Statement;
  } | null = null;

  constructor(private readonly store: EventStore) {}

  record(camera: string, c: Crossing): CrossingMessage {
    return this.store.inTransaction("recordCrossing", (db) => {
      const s = this.statements(db);
      s.insert.run(camera, c.line, c.direction, c.label, c.track_id, c.time);
      s.bump.run({ camera, line: c.line, in: c.direction === "in" ? 1 : 0, out: c.direction === "out" ? 1 : 0 });
      const counts = s.counts.get(camera, c.line) as LineCounts;
      const msg: CrossingMessage = { line: c.line, direction: c.direction, label: c.label, track_id: c.track_id, camera, time: new Date(c.time).toISOString(), counts };
      this.store.enqueue(CROSSINGS_TOPIC, JSON.stringify(msg), { qos: 1, retain: false });
      this.enqueueTotals(camera, c.line, counts, msg.time);
      return msg;
    });
  }

  /**
   * Publishes the lines' totals as they stand (retained), so a dashboard or Home Assistant shows a line's
   * count before its first crossing of this run; called when a camera's analytics start.
   */
  announce(camera: string, lines: readonly string[], now = Date.now()): void {
    if (!lines.length) return;
    this.store.inTransaction("announceLines", (db) => {
      for (const line of lines) {
        const counts = (this.statements(db).counts.get(camera, line) as LineCounts | undefined) ?? { in: 0, out: 0 };
        this.enqueueTotals(camera, line, counts, new Date(now).toISOString());
      }
    });
  }

  private enqueueTotals(camera: string, line: string, counts: LineCounts, time: string): void {
    this.store.enqueue(lineTotalsTopic(camera, line), JSON.stringify({ camera, line, counts: { in: counts.in, out: counts.out }, time }), { qos: 1, retain: true });
  }

  /** A line's totals so far (zero for a line never crossed). */
  counts(camera: string, line: string): LineCounts {
    return this.store.inTransaction("lineCounts", (db) => (this.statements(db).counts.get(camera, line) as LineCounts | undefined) ?? { in: 0, out: 0 });
  }

  private statements(db: Database.Database) {
    return (this.stmt ??= {
      insert: db.prepare("INSERT INTO crossings (camera, line, direction, label, track_id, time_ms) VALUES (?, ?, ?, ?, ?, ?)"),
      bump: db.prepare(`
        INSERT INTO line_counts (camera, line, in_count, out_count) VALUES (@camera, @line, @in, @out)
        ON CONFLICT (camera, line) DO UPDATE SET in_count = in_count + @in, out_count = out_count + @out`),
      counts: db.prepare('SELECT in_count AS "in", out_count AS "out" FROM line_counts WHERE camera = ? AND line = ?'),
    });
  }
}
