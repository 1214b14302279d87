import type Database from "better-sqlite3";
import type { EvaEvent } from "../core/event.js";
import type { LineCounts } from "../records/line-totals.js";
import { rowToEvent, type EventRow, type EventStore } from "./store.js";

// What a person at the device looks at first: the newest events, newest first, filtered by camera, label and
// time (the CLI and the MQTT API page oldest first, for replay; a console shows what just happened). The
// other record kinds list themselves (agent/records, their `list`).

export interface RecentQuery {
  camera?: string;
  label?: string;
  /** records at or after this time (ms since epoch) */
  sinceMs?: number;
  /** records before this time (ms since epoch) */
  untilMs?: number;
  limit: number;
}

export interface LineTotal extends LineCounts {
  camera: string;
  line: string;
}

const params = (q: RecentQuery) => ({
  camera: q.camera ?? null,
  label: q.label ?? null,
  since: q.sinceMs ?? 0,
  until: q.untilMs ?? Number.MAX_SAFE_INTEGER,
  limit: Math.max(1, Math.min(q.limit, 1000)),
});

const FILTER = "(@camera IS NULL OR camera = @camera) AND (@label IS NULL OR label = @label)";

function all<T>(store: EventStore, op: string, sql: string, q: RecentQuery): T[] {
  return store.inTransaction(op, (db: Database.Database) => db.prepare(sql).all(params(q)) as T[]);
}

/** Events, newest start first. */
export function recentEvents(store: EventStore, q: RecentQuery): EvaEvent[] {
  const rows = all<EventRow>(
    store,
    "recentEvents",
    `SELECT id, device, camera, label, start_ms, end_ms, top_score, box, snapshot, track, clip, clip_duration_s, clip_bytes FROM events
     WHERE ${FILTER} AND start_ms >= @since AND start_ms < @until ORDER BY start_ms DESC, id DESC LIMIT @limit`,
    q,
  );
  return rows.map(rowToEvent);
}

/** Every line's running totals, as the `crossings` messages carry them. */
export function lineTotals(store: EventStore): LineTotal[] {
  return store.inTransaction(
    "lineTotals",
    (db) => db.prepare('SELECT camera, line, in_count AS "in", out_count AS "out" FROM line_counts ORDER BY camera, line').all() as LineTotal[],
  );
}
