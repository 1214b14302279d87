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

/**
 * Writes a batch with the statement `batchStatement` made: every table's rows as one parameter, so the whole batch is one
 * round trip and one implicit transaction, whatever its size. A duplicate (same device and id) does nothing, a
 * later revision replaces the row; nothing of the batch is visible until it commits.
 */
export async function writeBatch(pool: Pool, statement: BatchStatement, batch: Batch): Promise<WriteResult> {
  const byKind = new Map<RecordKind, Row[]>(statement.kinds.map((k) => [k, []]));
  for (const r of batch.rows) byKind.get(r.kind)?.push(r);
  const values: unknown[] = [];
  for (const kind of statement.kinds) {
    // The rows as one JSON array of arrays: the payloads, already JSON, go in as they are, without the quoting a
    // PostgreSQL array literal would need.
    let json = "";
    for (const r of newestPerKey(byKind.get(kind)!)) {
      const head = JSON.stringify([r.device, r.id, r.revision, ...r.values]);
      json += `${json ? "," : "["}${head.slice(0, -1)},${r.payload}]`;
    }
    values.push(json ? `${json}]` : "[]");
  }
  const dl = batch.deadLetters;
  values.push(
    dl.map((d) => d.topic),
    dl.map((d) => d.reason),
    dl.map((d) => d.bytes),
    dl.map((d) => d.payload),
  );
  const dev = mergeDevices(batch.devices);
  values.push(
    dev.map((d) => d.device),
    dev.map((d) => d.status ?? null),
    dev.map((d) => d.version ?? null),
    dev.map((d) => d.configHash ?? null),
    dev.map((d) => d.seen !== false),
  );
  const r = await pool.query<Record<string, number>>({ name: statement.name, text: statement.text, values });
  const counts = r.rows[0]!;
  const written: Record<string, number> = {};
  statement.kinds.forEach((k, i) => {
    const n = counts[`k${i}`] ?? 0;
    if (n) written[k.table] = n;
  });
  return { written };
}

/** One prepared statement for every batch: the same text each time, so PostgreSQL plans it once per connection. */
export interface BatchStatement {
  name: string;
  text: string;
  kinds: readonly RecordKind[];
}

export function batchStatement(kinds: readonly RecordKind[]): BatchStatement {
  let n = 0;
  const param = (type: string): string => `$${++n}::${type}[]`;
  const ctes = kinds.map((kind, i) => {
    const names = ["device", "id", "revision", ...Object.keys(kind.columns), "payload"];
    const types = ["text", "text", "bigint", ...Object.values(kind.columns).map((c) => c.type)];
    const exprs = types.map((t, j) => (t === "text" ? `r->>${j}` : `(r->>${j})::${t}`));
    exprs.push(`r->${types.length}`);
    const table = quoteIdent(kind.table);
    const head = `INSERT INTO ${table} (${names.map(quoteIdent).join(", ")}) SELECT ${exprs.join(", ")} FROM jsonb_array_elements($${++n}::jsonb) AS r ON CONFLICT (device, id) DO `;
    const set = names.slice(2).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
    // A later revision wins; at the same revision only a different payload (devices without revisions send
    // several updates at one stage) replaces the row, so an exact redelivery changes nothing.
    const action = kind.revision
      ? `UPDATE SET ${set.join(", ")}, received_at = now() WHERE EXCLUDED.revision > ${table}.revision OR (EXCLUDED.revision = ${table}.revision AND EXCLUDED.payload IS DISTINCT FROM ${table}.payload)`
      : "NOTHING";
    return `k${i} AS (${head}${action} RETURNING 1)`;
  });
  ctes.push(
    `dl AS (INSERT INTO dead_letters (topic, reason, bytes, payload) SELECT * FROM unnest(${["text", "text", "integer", "bytea"].map(param).join(", ")}) RETURNING 1)`,
  );
  ctes.push(`dv AS (INSERT INTO devices (device, status, status_at, last_seen, version, config_hash)
  SELECT d, s, CASE WHEN s IS NULL THEN NULL ELSE now() END, CASE WHEN seen THEN now() END, v, h
  FROM unnest(${["text", "text", "text", "text", "boolean"].map(param).join(", ")}) AS u(d, s, v, h, seen)
  ON CONFLICT (device) DO UPDATE SET
    status = COALESCE(EXCLUDED.status, devices.status),
    status_at = COALESCE(EXCLUDED.status_at, devices.status_at),
    last_seen = COALESCE(EXCLUDED.last_seen, devices.last_seen),
    version = COALESCE(EXCLUDED.version, devices.version),
    config_hash = COALESCE(EXCLUDED.config_hash, devices.config_hash)
  RETURNING 1)`);
  const counts = kinds.map((_, i) => `(SELECT count(*) FROM k${i})::int AS k${i}`);
  counts.push("(SELECT count(*) FROM dl)::int AS dl", "(SELECT count(*) FROM dv)::int AS dv");
  const text = `WITH ${ctes.join(",\n")}\nSELECT ${counts.join(", ")}`;
  return { name: `eva_ingest_batch_${kinds.map((k) => k.table).join("_")}`.slice(0, 63), text, kinds };
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
