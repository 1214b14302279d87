import type { Pool } from "pg";
import type { RecordKind, Row } from "./records.js";
import { quoteIdent } from "./schema.js";

/** A message that could not be stored as a record: kept whole (up to the size bound) with why. */
export interface DeadLetter {
  topic: string;
  reason: string;
  bytes: number;
  payload: Buffer | null;
}

/** What a device's status, stats or config messages say about it. */
export interface DeviceUpdate {
  device: string;
  status?: string;
  version?: string;
  configHash?: string;
  /** false for a will or a clean stop: the broker speaking for the device is no sighting of it */
  seen?: boolean;
}

export interface Batch {
  rows: Row[];
  deadLetters: DeadLetter[];
  devices: DeviceUpdate[];
}

export interface WriteResult {
  /** rows inserted or replaced by a later revision, per table; duplicates and older revisions do not count */
  written: Record<string, number>;
}

/** PostgreSQL's limit is 65535 bind parameters per statement. */
const MAX_PARAMS = 60_000;

/**
 * Writes one batch in one transaction: multi-row inserts per table, a duplicate (same device and id) does
 * nothing, a later revision replaces the row. Nothing of the batch is visible until the commit.
 */
export async function writeBatch(pool: Pool, batch: Batch): Promise<WriteResult> {
  const c = await pool.connect();
  let broken = false;
  // A server that goes away mid-transaction makes the client emit 'error' besides failing the query; the query's
  // rejection is what the caller acts on.
  const onError = (): void => {
    broken = true;
  };
  c.on("error", onError);
  try {
    await c.query("BEGIN");
    const written: Record<string, number> = {};
    const byKind = new Map<RecordKind, Row[]>();
    for (const r of batch.rows) {
      const list = byKind.get(r.kind);
      if (list) list.push(r);
      else byKind.set(r.kind, [r]);
    }
    for (const [kind, rows] of byKind) {
      for (const chunk of chunks(newestPerKey(rows), Math.floor(MAX_PARAMS / (Object.keys(kind.columns).length + 4)))) {
        written[kind.table] =
          (written[kind.table] ?? 0) +
          ((
            await c.query(
              insertSql(kind, chunk.length),
              chunk.flatMap((r) => [r.device, r.id, r.revision, ...r.values, r.payload]),
            )
          ).rowCount ?? 0);
      }
    }
    for (const d of batch.deadLetters) {
      await c.query("INSERT INTO dead_letters (topic, reason, bytes, payload) VALUES ($1, $2, $3, $4)", [d.topic, d.reason, d.bytes, d.payload]);
    }
    for (const d of mergeDevices(batch.devices)) {
      await c.query(
        `INSERT INTO devices (device, status, status_at, last_seen, version, config_hash) VALUES ($1, $2, CASE WHEN $2::text IS NULL THEN NULL ELSE now() END, CASE WHEN $5 THEN now() END, $3, $4)
         ON CONFLICT (device) DO UPDATE SET
           status = COALESCE(EXCLUDED.status, devices.status),
           status_at = COALESCE(EXCLUDED.status_at, devices.status_at),
           last_seen = CASE WHEN $5 THEN now() ELSE devices.last_seen END,
           version = COALESCE(EXCLUDED.version, devices.version),
           config_hash = COALESCE(EXCLUDED.config_hash, devices.config_hash)`,
        [d.device, d.status ?? null, d.version ?? null, d.configHash ?? null, d.seen !== false],
      );
    }
    await c.query("COMMIT");
    return { written };
  } catch (err) {
    try {
      await c.query("ROLLBACK");
    } catch {
      broken = true; // the connection itself is gone
    }
    throw err;
  } finally {
    c.off("error", onError);
    c.release(broken);
  }
}

function insertSql(kind: RecordKind, n: number): string {
  const names = ["device", "id", "revision", ...Object.keys(kind.columns), "payload"];
  const width = names.length;
  const tuples: string[] = [];
  for (let i = 0; i < n; i++) tuples.push(`(${names.map((_, j) => `$${i * width + j + 1}`).join(", ")})`);
  const table = quoteIdent(kind.table);
  const cols = names.map(quoteIdent).join(", ");
  const head = `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(", ")} ON CONFLICT (device, id) DO `;
  if (!kind.revision) return `${head}NOTHING`;
  const set = names.slice(2).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
  // A later revision wins; at the same revision only a different payload (devices without revisions send
  // several updates at one stage) replaces the row, so an exact redelivery changes nothing.
  return `${head}UPDATE SET ${set.join(", ")}, received_at = now() WHERE EXCLUDED.revision > ${table}.revision OR (EXCLUDED.revision = ${table}.revision AND EXCLUDED.payload IS DISTINCT FROM ${table}.payload)`;
}

/** One row per key: ON CONFLICT cannot touch a row twice in one statement. The later of equal revisions wins. */
function newestPerKey(rows: Row[]): Row[] {
  const m = new Map<string, Row>();
  for (const r of rows) {
    const k = `${r.device}\u0000${r.id}`;
    const prev = m.get(k);
    if (!prev || r.revision >= prev.revision) m.set(k, r);
  }
  // a fixed order, so that two ingests writing the same keys (a redelivery) lock rows in the same order
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

function mergeDevices(updates: DeviceUpdate[]): DeviceUpdate[] {
  const m = new Map<string, DeviceUpdate>();
  for (const u of updates) {
    const prev = m.get(u.device);
    const set = Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as DeviceUpdate;
    // later status wins; the device was seen when any message of the batch came from it
    m.set(u.device, { ...prev, ...set, seen: (prev !== undefined && prev.seen !== false) || u.seen !== false });
  }
  return [...m.values()].sort((a, b) => (a.device < b.device ? -1 : 1)); // a fixed order: no deadlocks between ingests
}

function* chunks<T>(xs: T[], size: number): Generator<T[]> {
  for (let i = 0; i < xs.length; i += size) yield xs.slice(i, i + size);
}
