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

/** Creates the kind's table when missing, adds the columns it lacks, and its indexes (and a point with PostGIS). */
async function reconcileTable(c: PoolClient, k: RecordKind, postgis: boolean): Promise<void> {
  const t = quoteIdent(k.table);
  await c.query(`CREATE TABLE IF NOT EXISTS ${t} (
  device text NOT NULL,
  id text NOT NULL,
  revision bigint NOT NULL DEFAULT 0,
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, id)
)`);
  for (const [name, col] of Object.entries(k.columns)) await c.query(`ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${quoteIdent(name)} ${col.type}`);
  await c.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${k.table}_received_at`)} ON ${t} (received_at)`);
  if (k.timeColumn !== "received_at")
    await c.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${k.table}_${k.timeColumn}`)} ON ${t} (${quoteIdent(k.timeColumn)})`);
  if (postgis) {
    // A generated column: writers keep inserting lat/lon only, with or without PostGIS.
    await c.query(
      `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326) GENERATED ALWAYS AS (CASE WHEN lat IS NOT NULL AND lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED`,
    );
    await c.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${k.table}_geom`)} ON ${t} USING gist (geom)`);
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
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the database to SCHEMA_VERSION; returns the versions it applied (empty when already current). */
export async function migrate(pool: Pool, log: Logger): Promise<{ applied: number[]; postgis: boolean }> {
  const c = await pool.connect();
  c.on("error", () => {}); // a server going away fails the query too; that rejection is what counts
  try {
    await c.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
    try {
      await c.query(
        `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
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
