import type { Pool, PoolClient } from "pg";
import type { Logger } from "pino";
import { RECORD_KINDS, type RecordKind } from "./records.js";

// Versioned migrations, applied in order at start inside one transaction each, under an advisory lock so that
// several ingest processes starting together apply each one exactly once. A migration is never edited once
// released: a change is a new entry at the end.

/** Any fixed number, the same in every ingest: the lock that serialises migrations. */
const MIGRATION_LOCK = 0x65766131; // "eva1"

interface Migration {
  version: number;
  name: string;
  /** false: does not apply to this server yet (no PostGIS); left unrecorded so a later start applies it */
  up: (c: PoolClient, ctx: { postgis: boolean }) => Promise<boolean | void>;
}

function recordTableSql(k: RecordKind): string {
  const cols = Object.entries(k.columns).map(([name, c]) => `  ${quoteIdent(name)} ${c.type}`);
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(k.table)} (
  device text NOT NULL,
  id text NOT NULL,
  revision bigint NOT NULL DEFAULT 0,
${cols.join(",\n")},
  payload jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, id)
)`;
}

export function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return `"${name}"`;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "record tables, devices, dead letters",
    up: async (c) => {
      for (const k of RECORD_KINDS) {
        await c.query(recordTableSql(k));
        await c.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${k.table}_received_at`)} ON ${quoteIdent(k.table)} (received_at)`);
      }
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
    name: "PostGIS points from lat/lon, where the extension is available",
    up: async (c, { postgis }) => {
      if (!postgis) return false;
      for (const k of RECORD_KINDS) {
        if (!("lat" in k.columns && "lon" in k.columns)) continue;
        // A generated column: writers keep inserting lat/lon only, with or without PostGIS.
        await c.query(
          `ALTER TABLE ${quoteIdent(k.table)} ADD COLUMN IF NOT EXISTS geom geometry(Point, 4326) GENERATED ALWAYS AS (CASE WHEN lat IS NOT NULL AND lon IS NOT NULL THEN ST_SetSRID(ST_MakePoint(lon, lat), 4326) END) STORED`,
        );
        await c.query(`CREATE INDEX IF NOT EXISTS ${quoteIdent(`${k.table}_geom`)} ON ${quoteIdent(k.table)} USING gist (geom)`);
      }
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
      const done = new Set((await c.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
      const applied: number[] = [];
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query("BEGIN");
        try {
          if ((await m.up(c, { postgis })) === false) {
            await c.query("ROLLBACK");
            continue;
          }
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
