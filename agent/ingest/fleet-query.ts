import type { Pool } from "pg";
import { RECORD_KINDS } from "./records.js";
import { quoteIdent } from "./schema.js";

export interface FleetFilter {
  device?: string;
  /** records whose own time (start, crossing, last seen, state change) is at or after this */
  sinceMs?: number;
  limit: number;
}

/** What `eva fleet` lists: each kept channel by its name (events, crossings, signs, alarms, counts, …) and devices. */
export const FLEET_TABLES: readonly string[] = [...RECORD_KINDS.map((k) => k.name), "devices"];

/**
 * Stored records, newest first by their own time, as the device published them plus `device`: the same objects as the device's own
 * `eva events --json` / `eva signs --json`. Devices come back as their row.
 */
export async function queryFleet(pool: Pool, table: string, f: FleetFilter): Promise<Array<Record<string, unknown>>> {
  if (table === "devices") {
    const r = await pool.query(
      "SELECT device, status, status_at, last_seen, version, config_hash FROM devices WHERE ($1::text IS NULL OR device = $1) ORDER BY device LIMIT $2",
      [f.device ?? null, f.limit],
    );
    return r.rows.map((row) => ({ ...row, status_at: iso(row.status_at), last_seen: iso(row.last_seen) }));
  }
  const kind = RECORD_KINDS.find((k) => k.name === table);
  if (!kind) throw new Error(`unknown fleet table '${table}'`);
  const t = quoteIdent(kind.table);
  const c = quoteIdent(kind.timeColumn);
  const r = await pool.query<{ device: string; payload: Record<string, unknown> }>(
    `SELECT device, payload FROM ${t} WHERE ($1::text IS NULL OR device = $1) AND ($2::timestamptz IS NULL OR ${c} >= $2) ORDER BY ${c} DESC NULLS LAST, device, id LIMIT $3`,
    [f.device ?? null, f.sinceMs === undefined ? null : new Date(f.sinceMs).toISOString(), f.limit],
  );
  return r.rows.map((row) => ({ ...row.payload, device: row.device }));
}

const iso = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : null);
