import type Database from "better-sqlite3";
import type { KindMigration } from "../core/records.js";

/** One schema step. Never edit a released migration: add the next one. */
export interface Migration {
  version: number;
  name: string;
  up(db: Database.Database): void;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "events and outbox",
    up(db) {
      db.exec(`
        CREATE TABLE events (
          id         TEXT PRIMARY KEY,
          device     TEXT NOT NULL,
          camera     TEXT NOT NULL,
          label      TEXT NOT NULL,
          start_ms   INTEGER NOT NULL,
          end_ms     INTEGER,
          top_score  REAL NOT NULL,
          box        TEXT NOT NULL,  -- JSON [x1, y1, x2, y2]
          snapshot   TEXT,
          updated_ms INTEGER NOT NULL
        );
        CREATE INDEX events_camera_start ON events (camera, start_ms);
        CREATE INDEX events_label ON events (label);

        -- Messages waiting for the broker's PUBACK. AUTOINCREMENT: a seq is never reused, even after the
        -- newest rows are deleted, so the publisher's "after seq" cursor can never skip a new row.
        CREATE TABLE outbox (
          seq        INTEGER PRIMARY KEY AUTOINCREMENT,
          topic      TEXT NOT NULL,    -- suffix after <prefix>/<device>/
          payload    TEXT NOT NULL,
          qos        INTEGER NOT NULL,
          retain     INTEGER NOT NULL,
          created_ms INTEGER NOT NULL
        );
      `);
    },
  },
  {
    version: 2,
    name: "tracks on events, line crossings and their counts, sign sightings",
    up(db) {
      db.exec(`
        -- JSON of the tracking fields (track_id, current_zones, entered_zones, stationary): one column, so the
        -- analytics can grow without a migration per field.
        ALTER TABLE events ADD COLUMN track TEXT;

        CREATE TABLE crossings (
          id        INTEGER PRIMARY KEY AUTOINCREMENT,
          camera    TEXT NOT NULL,
          line      TEXT NOT NULL,
          direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
          label     TEXT NOT NULL,
          track_id  INTEGER NOT NULL,
          time_ms   INTEGER NOT NULL
        );
        CREATE INDEX crossings_camera_time ON crossings (camera, time_ms);

        -- Running totals per line, kept beside the crossings so they survive restarts and retention alike.
        CREATE TABLE line_counts (
          camera    TEXT NOT NULL,
          line      TEXT NOT NULL,
          in_count  INTEGER NOT NULL DEFAULT 0,
          out_count INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (camera, line)
        );

        -- One row per physical sign per pass: class by vote, best view, first and last seen.
        CREATE TABLE sign_sightings (
          id        TEXT PRIMARY KEY,
          camera    TEXT NOT NULL,
          label     TEXT NOT NULL,
          score     REAL NOT NULL,
          first_ms  INTEGER NOT NULL,
          last_ms   INTEGER NOT NULL,
          box       TEXT NOT NULL,  -- JSON [x1, y1, x2, y2]
          track_id  INTEGER NOT NULL,
          snapshot  TEXT
        );
        CREATE INDEX sign_sightings_camera_last ON sign_sightings (camera, last_ms);
        CREATE VIEW sign_inventory AS
          SELECT camera, label, MAX(last_ms) AS last_seen_ms, COUNT(*) AS count
          FROM sign_sightings GROUP BY camera, label;
      `);
    },
  },
  {
    version: 3,
    name: "outbox sink cursors",
    up(db) {
      db.exec(`
        -- How far each sink has got through the outbox: every row with seq <= its cursor is delivered (or not
        -- meant for it). A row is deleted once every configured sink's cursor has passed it. The MQTT sink starts
        -- at 0, so what an older agent left undelivered still goes out.
        CREATE TABLE outbox_cursors (
          sink TEXT PRIMARY KEY,
          seq  INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO outbox_cursors (sink, seq) VALUES ('mqtt', 0);

        -- Records a sink's receiver refused for good (an HTTP 400 for its body): kept, newest 1000, for an
        -- installer to look at, instead of blocking every later record.
        CREATE TABLE outbox_dead_letters (
          id       INTEGER PRIMARY KEY AUTOINCREMENT,
          sink     TEXT NOT NULL,
          seq      INTEGER NOT NULL,
          topic    TEXT NOT NULL,
          payload  TEXT NOT NULL,
          reason   TEXT NOT NULL,
          time_ms  INTEGER NOT NULL
        );
      `);
    },
  },
];

/**
 * Brings the schema up to the newest migration; each step and its bookkeeping row commit together, so a crash
 * leaves the database at a whole version. Returns the versions applied now (empty when already current).
 * Throws a plain Error when the database is newer than this code: the caller wraps it.
 */
export function migrate(db: Database.Database, list: readonly Migration[] = migrations): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_ms INTEGER NOT NULL
  )`);
  const current = (db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0;
  const newest = list.reduce((m, x) => Math.max(m, x.version), 0);
  if (current > newest) {
    throw new Error(`database schema is version ${current}, newer than this agent knows (${newest}); upgrade the agent`);
  }
  const record = db.prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)");
  const done = db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?");
  const applied: number[] = [];
  for (const m of [...list].sort((a, b) => a.version - b.version)) {
    if (m.version <= current) continue;
    // Checked again under the write lock: another process opening the same file may have just applied it.
    const ran = db
      .transaction(() => {
        if (done.get(m.version)) return false;
        m.up(db);
        record.run(m.version, m.name, Date.now());
        return true;
      })
      .immediate();
    if (ran) applied.push(m.version);
  }
  return applied;
}

/** A record kind's own schema steps (agent/records), versioned per kind so kinds are added and grown apart. */
export interface KindMigrations {
  name: string;
  migrations: readonly KindMigration[];
}

const KIND_TABLE = `CREATE TABLE IF NOT EXISTS record_kind_migrations (
  kind       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  name       TEXT NOT NULL,
  applied_ms INTEGER NOT NULL,
  PRIMARY KEY (kind, version)
)`;

/**
 * Applies each record kind's migrations not yet applied, after the numbered ones above (a kind builds on their
 * tables). Each step commits with its bookkeeping row. Returns `kind:version` of the steps applied now.
 */
export function migrateKinds(db: Database.Database, kinds: readonly KindMigrations[]): string[] {
  db.exec(KIND_TABLE);
  const done = db.prepare("SELECT 1 FROM record_kind_migrations WHERE kind = ? AND version = ?");
  const record = db.prepare("INSERT INTO record_kind_migrations (kind, version, name, applied_ms) VALUES (?, ?, ?, ?)");
  const applied: string[] = [];
  for (const kind of kinds) {
    for (const m of [...kind.migrations].sort((a, b) => a.version - b.version)) {
      const ran = db
        .transaction(() => {
          if (done.get(kind.name, m.version)) return false;
          m.up(db);
          record.run(kind.name, m.version, m.name, Date.now());
          return true;
        })
        .immediate();
      if (ran) applied.push(`${kind.name}:${m.version}`);
    }
  }
  return applied;
}

/** The kinds' steps a database lacks (a read-only open cannot apply them), as `kind:version`. */
export function missingKindMigrations(db: Database.Database, kinds: readonly KindMigrations[]): string[] {
  let have = new Set<string>();
  try {
    have = new Set(
      (db.prepare("SELECT kind, version FROM record_kind_migrations").all() as Array<{ kind: string; version: number }>).map((r) => `${r.kind}:${r.version}`),
    );
  } catch {
    // no bookkeeping table: no kind migration applied
  }
  return kinds.flatMap((k) => k.migrations.map((m) => `${k.name}:${m.version}`)).filter((k) => !have.has(k));
}
