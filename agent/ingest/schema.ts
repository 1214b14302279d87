import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import { RECORD_KINDS, type RecordKind } from "./records.js";

// The record tables follow the registry's declarations (records.ts): at start each is created when missing and
// given the columns it lacks, never altered otherwise, so a kind or field added to the agent is stored without a
// migration. Everything else is a versioned migration, applied in order, one transaction each, never edited once
// released: a change is a new entry at the end. All of it runs under an advisory lock, so several ingest
// processes starting together do each step once.

/** Any fixed number, the same in every ingest: the lock that serialises migrations. */
const MIGRATION_LOCK = 0x65766131; // "eva1"

interface Migration {
  version: number;
  name: string;
  up: (c: PoolClient) => Promise<void>;
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return `"${name}"`;
}

/**
 * Creates the kind's table when missing, adds the columns and indexes it lacks (and a point with PostGIS). What
 * exists is left alone without a DDL statement, so a role that may only write rows starts on a current schema.
 */
async function reconcileTable(c: PoolClient, k: RecordKind, postgis: boolean): Promise<void> {
  const t = quoteIdent(k.table);
  const have = new Set(
    (
      await c.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", [
        k.table,
      ])
    ).rows.map((r) => r.column_name),
  );
  const indexes = new Set(
    (await c.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1", [k.table])).rows.map(
      (r) => r.indexname,
    ),
  );
  if (!have.size) {
    await c.query(`CREATE TABLE ${t} (
  device text NOT NULL,
  id text NOT NULL,
  revision bigint NOT NULL DEFAULT 0,
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, id)
)`);
  }
  for (const [name, col] of Object.entries(k.columns)) if (!have.has(name)) await c.query(`ALTER TABLE ${t} ADD COLUMN ${quoteIdent(name)} ${col.type}`);
  const index = async (name: string, sql: string) => {
    if (!indexes.has(name)) await c.query(`CREATE INDEX ${quoteIdent(name)} ON ${t} ${sql}`);
  };
  await index(`${k.table}_received_at`, "(received_at)");
  if (k.timeColumn !== "received_at") await index(`${k.table}_${k.timeColumn}`, `(${quoteIdent(k.timeColumn)})`);
  if (postgis) {
    // A generated column: writers keep inserting lat/lon only, with or without PostGIS.
    if (!have.has("geom"))
      await c.query(
        `ALTER TABLE ${t} ADD COLUMN geom geometry(Point, 4326) GENERATED ALWAYS AS (CASE WHEN lat IS NOT NULL AND lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED`,
      );
    await index(`${k.table}_geom`, "USING gist (geom)");
  }
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "devices, dead letters",
    up: async (c) => {
      await c.query(`CREATE TABLE IF NOT EXISTS devices (
  device text PRIMARY KEY,
  status text,
  status_at timestamptz,
  last_seen timestamptz,
  version text,
  config_hash text
)`);
      await c.query(`CREATE TABLE IF NOT EXISTS dead_letters (
  seq bigserial PRIMARY KEY,
  received_at timestamptz NOT NULL DEFAULT now(),
  topic text NOT NULL,
  reason text NOT NULL,
  bytes integer NOT NULL,
  payload bytea
)`);
    },
  },
  {
    version: 2,
    name: "views for Grafana's PostgreSQL data source",
    // One row per thing a panel counts, with a `time` column for $__timeFilter; config/grafana/eva-fleet.json uses them.
    up: async (c) => {
      await c.query(`CREATE OR REPLACE VIEW fleet_devices AS
  SELECT device, status, status_at, last_seen, version, config_hash, status = 'online' AS online,
         extract(epoch FROM now() - last_seen) AS seconds_since_seen
  FROM devices`);
      await c.query(`CREATE OR REPLACE VIEW fleet_events AS
  SELECT start_time AS time, end_time, device, camera, label, top_score, extract(epoch FROM end_time - start_time) AS duration_seconds, lat, lon
  FROM events`);
      await c.query(`CREATE OR REPLACE VIEW fleet_crossings AS
  SELECT time, device, camera, line, direction, label, lat, lon FROM crossings`);
      await c.query(`CREATE OR REPLACE VIEW fleet_alarms AS
  SELECT time, device, camera, alarm_id, type, state, zone FROM alarms`);
      await c.query(`CREATE OR REPLACE VIEW fleet_signs AS
  SELECT first_seen AS time, last_seen, device, camera, label, score, lat, lon FROM signs`);
      // a report's classes as rows: one per line or zone, interval and class
      await c.query(`CREATE OR REPLACE VIEW fleet_counts AS
  SELECT r.interval_start AS time, r.interval_seconds, r.device, r.camera, r.subject, COALESCE(r.line, r.zone) AS name, cls.key AS label,
         (cls.value->>'in')::bigint AS "in", (cls.value->>'out')::bigint AS "out",
         (cls.value->>'entries')::bigint AS entries, (cls.value->>'peak')::bigint AS peak, r.complete
  FROM count_reports r, jsonb_each(r.classes) AS cls`);
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database to SCHEMA_VERSION; returns the versions it applied (empty when already current). */
export async function migrate(pool: Pool, log: Logger): Promise<{ applied: number[]; postgis: boolean }> {
  const c = await pool.connect();
  c.on("error", () => {}); // a server going away fails the query too; that rejection is what counts
  try {
    await c.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      if (!(await c.query("SELECT to_regclass('schema_migrations') AS t")).rows[0].t)
        await c.query("CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
      const postgis = await ensurePostgis(c, log);
      await c.query("BEGIN");
      try {
        for (const k of RECORD_KINDS) await reconcileTable(c, k, postgis);
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK");
        throw new Error(`record tables: ${(err as Error).message}`);
      }
      const done = new Set((await c.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query("BEGIN");
        try {
          await m.up(c);
          await c.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
          await c.query("COMMIT");
        } catch (err) {
          await c.query("ROLLBACK");
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        applied.push(m.version);
        log.info({ version: m.version, name: m.name }, "schema migration applied");
      }
      return { applied, postgis };
    } finally {
      await c.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
    }
  } finally {
    c.release();
  }
}

/** PostGIS when installed or installable by this role; plain lat/lon columns otherwise. */
async function ensurePostgis(c: PoolClient, log: Logger): Promise<boolean> {
  const have = await c.query("SELECT 1 FROM pg_extension WHERE extname = 'postgis'");
  if (have.rowCount) return true;
  const available = await c.query("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'");
  if (!available.rowCount) {
    log.info("PostGIS is not available on this server: positions stay in lat/lon columns");
    return false;
  }
  try {
    await c.query("CREATE EXTENSION IF NOT EXISTS postgis");
    return true;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      "PostGIS is available but this role cannot create it (CREATE EXTENSION postgis as a superuser): positions stay in lat/lon columns",
    );
    return false;
  }
}
