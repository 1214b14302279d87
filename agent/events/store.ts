import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type { EvaEvent, EventChange } from "../core/event.js";
import { clipOf, events } from "../records/events.js";
import { recordKinds } from "../records/registry.js";
import { migrate, migrateKinds, migrations, missingKindMigrations } from "./migrations.js";

export { newEventId } from "../core/ulid.js";

/** What went wrong, for callers that react differently (e.g. stop recording vs. retry). */
export type StoreFailure = "full" | "read_only" | "busy" | "corrupt" | "io" | "schema" | "invalid" | "other";

/** Every failure of the event store: a value with a code, the operation, the file and the SQLite cause. */
export class StoreError extends Error {
  readonly code = "EVA_STORE";
  constructor(
    readonly op: string,
    readonly reason: StoreFailure,
    readonly file: string,
    message: string,
    readonly sqliteCode?: string,
    options?: { cause?: unknown },
  ) {
    super(`event store ${op} failed (${file}): ${message}`, options);
    this.name = "StoreError";
  }
}

export interface OutboxRow {
  seq: number;
  /** suffix after `<prefix>/<device>/`, e.g. `events` */
  topic: string;
  payload: string;
  qos: 0 | 1 | 2;
  retain: boolean;
}

export interface EventQuery {
  camera?: string;
  label?: string;
  /** events that started at or after this time (ms since epoch) */
  sinceMs?: number;
  limit?: number;
}

export interface EventStoreOptions {
  busyTimeoutMs?: number;
  /** cap on the file size (SD cards): writes past it fail with StoreError reason "full" */
  maxBytes?: number;
  /** open an existing file for reading only (e.g. `eva events` beside a running agent): no migration, writes fail */
  readonly?: boolean;
}

export interface EventRow {
  id: string;
  device: string;
  camera: string;
  label: string;
  start_ms: number;
  end_ms: number | null;
  top_score: number;
  box: string;
  snapshot: string | null;
  track: string | null;
  clip: string | null;
  clip_duration_s: number | null;
  clip_bytes: number | null;
}

function reasonOf(sqliteCode: string | undefined): StoreFailure {
  if (!sqliteCode) return "other";
  if (sqliteCode.startsWith("SQLITE_FULL")) return "full";
  if (sqliteCode.startsWith("SQLITE_READONLY") || sqliteCode.startsWith("SQLITE_PERM") || sqliteCode.startsWith("SQLITE_CANTOPEN")) {
    return "read_only";
  }
  if (sqliteCode.startsWith("SQLITE_BUSY") || sqliteCode.startsWith("SQLITE_LOCKED")) return "busy";
  if (sqliteCode.startsWith("SQLITE_CORRUPT") || sqliteCode.startsWith("SQLITE_NOTADB")) return "corrupt";
  if (sqliteCode.startsWith("SQLITE_IOERR")) return "io";
  return "other";
}

function toStoreError(op: string, file: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const sqliteCode = err instanceof Database.SqliteError ? err.code : (err as NodeJS.ErrnoException)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const reason = err instanceof Database.SqliteError ? reasonOf(sqliteCode) : sqliteCode === "EACCES" || sqliteCode === "EROFS" ? "read_only" : "other";
  return new StoreError(op, reason, file, sqliteCode ? `${message} (${sqliteCode})` : message, sqliteCode, { cause: err });
}

/** A stored events row as the event it records (also read by recent-records.ts). */
export function rowToEvent(r: EventRow): EvaEvent {
  return {
    id: r.id,
    device: r.device,
    camera: r.camera,
    label: r.label,
    start_time: new Date(r.start_ms).toISOString(),
    end_time: r.end_ms === null ? null : new Date(r.end_ms).toISOString(),
    top_score: r.top_score,
    box: JSON.parse(r.box) as EvaEvent["box"],
    snapshot: r.snapshot,
    ...(r.track ? (JSON.parse(r.track) as Partial<EvaEvent>) : {}),
    ...(r.clip !== null ? { clip: clipOf(r) } : {}),
  };
}

/** A read-only open cannot migrate: it needs the schema this code was written for. */
function checkSchemaCurrent(db: Database.Database, file: string): void {
  const newest = migrations.reduce((m, x) => Math.max(m, x.version), 0);
  let version = 0;
  try {
    version = (db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0;
  } catch {
    // no schema_migrations table: not an eva database, or never opened by the agent
  }
  if (version !== newest) {
    throw new StoreError("open", "schema", file, `database schema is version ${version}, this agent reads version ${newest}`);
  }
  const missing = missingKindMigrations(db, recordKinds);
  if (missing.length)
    throw new StoreError("open", "schema", file, `database lacks the record tables of ${missing.join(", ")}; open it once with the agent to upgrade it`);
}

/**
 * Events and the MQTT outbox in one SQLite file. An event change and the message announcing it commit in one
 * transaction, so the control room hears about every stored event and about nothing that was not stored,
 * whatever the broker or the power does in between.
 */
export class EventStore {
  private readonly db: Database.Database;
  private readonly stmt: {
    insertOutbox: Database.Statement;
    peekOutbox: Database.Statement;
    deleteOutbox: Database.Statement;
    outboxDepth: Database.Statement;
  };
  private readonly queries = new Map<string, Database.Statement>();

  constructor(
    readonly file: string,
    opts: EventStoreOptions = {},
  ) {
    try {
      if (!opts.readonly && file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
      this.db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
    } catch (err) {
      throw toStoreError("open", file, err);
    }
    try {
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
      if (opts.readonly) {
        checkSchemaCurrent(this.db, file);
      } else {
        // WAL: readers (eva events, health) never block the writer and the writer never blocks them.
        this.db.pragma("journal_mode = WAL");
        // NORMAL in WAL mode: a power cut can lose the last commits but never corrupts the file; FULL would fsync
        // on every event, which SD cards pay for in latency and wear.
        this.db.pragma("synchronous = NORMAL");
        if (opts.maxBytes !== undefined) {
          const pageSize = this.db.pragma("page_size", { simple: true }) as number;
          this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(opts.maxBytes / pageSize))}`);
        }
        try {
          migrate(this.db);
          migrateKinds(this.db, recordKinds);
        } catch (err) {
          if (err instanceof Database.SqliteError) throw err;
          throw new StoreError("migrate", "schema", file, err instanceof Error ? err.message : String(err), undefined, { cause: err });
        }
      }
      this.stmt = {
        insertOutbox: this.db.prepare("INSERT INTO outbox (topic, payload, qos, retain, created_ms) VALUES (?, ?, ?, ?, ?)"),
        peekOutbox: this.db.prepare("SELECT seq, topic, payload, qos, retain FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?"),
        deleteOutbox: this.db.prepare("DELETE FROM outbox WHERE seq = ?"),
        outboxDepth: this.db.prepare("SELECT COUNT(*) FROM outbox").pluck(),
      };
    } catch (err) {
      this.db.close();
      throw toStoreError("open", file, err);
    }
  }

  /**
   * Stores the event's new state and queues `{"type": change, "event": ev, "revision": n}` on `events`,
   * atomically (agent/records/events.ts). Returns the outbox seq.
   */
  recordEvent(change: EventChange, ev: EvaEvent, reason?: string): number {
    return this.inTransaction("recordEvent", () => this.writeEvent(change, ev, reason));
  }

  private writeEvent(change: EventChange, ev: EvaEvent, reason?: string): number {
    const [m] = events.write(this.db, { id: ev.id, device: ev.device, camera: ev.camera, change, event: ev, ...(reason ? { reason } : {}) });
    return Number(this.stmt.insertOutbox.run(m!.topic, JSON.stringify(m!.payload), 1, 0, Date.now()).lastInsertRowid);
  }

  /** Queues any message for the publisher; `topic` is the suffix after `<prefix>/<device>/`. Returns its seq. */
  enqueue(topic: string, payload: string, opts: { qos: 0 | 1 | 2; retain: boolean }): number {
    try {
      return Number(this.stmt.insertOutbox.run(topic, payload, opts.qos, opts.retain ? 1 : 0, Date.now()).lastInsertRowid);
    } catch (err) {
      throw toStoreError("enqueue", this.file, err);
    }
  }

  /**
   * Runs `fn` in one transaction on this store's connection: a stage's own rows and the outbox messages that
   * announce them (queued with `enqueue` inside `fn`) commit together or not at all.
   */
  inTransaction<T>(op: string, fn: (db: Database.Database) => T): T {
    try {
      return this.db.transaction(() => fn(this.db))();
    } catch (err) {
      throw toStoreError(op, this.file, err);
    }
  }

  /** Stored events, oldest start first. */
  queryEvents(q: EventQuery = {}): EvaEvent[] {
    const where: string[] = [];
    const params: Record<string, string | number> = {};
    if (q.camera !== undefined) {
      where.push("camera = @camera");
      params.camera = q.camera;
    }
    if (q.label !== undefined) {
      where.push("label = @label");
      params.label = q.label;
    }
    if (q.sinceMs !== undefined) {
      where.push("start_ms >= @sinceMs");
      params.sinceMs = q.sinceMs;
    }
    params.limit = q.limit ?? -1; // SQLite: a negative LIMIT means none
    const sql =
      "SELECT id, device, camera, label, start_ms, end_ms, top_score, box, snapshot, track, clip, clip_duration_s, clip_bytes FROM events" +
      (where.length ? ` WHERE ${where.join(" AND ")}` : "") +
      " ORDER BY start_ms, id LIMIT @limit";
    try {
      let stmt = this.queries.get(sql);
      if (!stmt) {
        stmt = this.db.prepare(sql);
        this.queries.set(sql, stmt);
      }
      return (stmt.all(params) as EventRow[]).map(rowToEvent);
    } catch (err) {
      throw toStoreError("queryEvents", this.file, err);
    }
  }

  /** The stored event `id`, or null. */
  eventById(id: string): EvaEvent | null {
    try {
      const r = this.db
        .prepare(
          "SELECT id, device, camera, label, start_ms, end_ms, top_score, box, snapshot, track, clip, clip_duration_s, clip_bytes FROM events WHERE id = ?",
        )
        .get(id) as EventRow | undefined;
      return r ? rowToEvent(r) : null;
    } catch (err) {
      throw toStoreError("eventById", this.file, err);
    }
  }

  /** Up to `limit` outbox rows with seq > afterSeq, in seq order. */
  peekOutbox(afterSeq: number, limit: number): OutboxRow[] {
    try {
      const rows = this.stmt.peekOutbox.all(afterSeq, limit) as Array<Omit<OutboxRow, "retain"> & { retain: number }>;
      return rows.map((r) => ({ seq: r.seq, topic: r.topic, payload: r.payload, qos: r.qos, retain: r.retain !== 0 }));
    } catch (err) {
      throw toStoreError("peekOutbox", this.file, err);
    }
  }

  deleteOutbox(seq: number): void {
    try {
      this.stmt.deleteOutbox.run(seq);
    } catch (err) {
      throw toStoreError("deleteOutbox", this.file, err);
    }
  }

  outboxDepth(): number {
    try {
      return this.stmt.outboxDepth.get() as number;
    } catch (err) {
      throw toStoreError("outboxDepth", this.file, err);
    }
  }

  /** Outbox rows with their age, for the outbox bound (agent/publish/outbox-bound.ts), in seq order. */
  listOutbox(afterSeq: number, limit: number): Array<OutboxRow & { created_ms: number }> {
    try {
      const rows = this.db
        .prepare("SELECT seq, topic, payload, qos, retain, created_ms FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        .all(afterSeq, limit) as Array<Omit<OutboxRow, "retain"> & { retain: number; created_ms: number }>;
      return rows.map((r) => ({ ...r, retain: r.retain !== 0 }));
    } catch (err) {
      throw toStoreError("listOutbox", this.file, err);
    }
  }

  /** Deletes outbox rows in one transaction (the outbox bound's compaction and drops). */
  deleteOutboxRows(seqs: readonly number[]): void {
    try {
      const del = this.stmt.deleteOutbox;
      this.db.transaction(() => {
        for (const seq of seqs) del.run(seq);
      })();
    } catch (err) {
      throw toStoreError("deleteOutboxRows", this.file, err);
    }
  }

  /**
   * Ends every event still open: after an unclean stop (kill -9, power cut) nobody else will, and an open event
   * is neither ended on MQTT nor ever deleted by retention. Each ends at its last stored change, the last time
   * the agent knew it, and its `end` message carries `reason`. Returns the events ended.
   */
  closeOpenEvents(reason: string): EvaEvent[] {
    try {
      return this.db.transaction(() => {
        const open = this.db
          .prepare(
            "SELECT id, device, camera, label, start_ms, end_ms, top_score, box, snapshot, track, clip, clip_duration_s, clip_bytes, updated_ms FROM events WHERE end_ms IS NULL ORDER BY start_ms, id",
          )
          .all() as Array<EventRow & { updated_ms: number }>;
        return open.map((r) => {
          const ev = rowToEvent({ ...r, end_ms: Math.max(r.start_ms, r.updated_ms) });
          this.writeEvent("end", ev, reason);
          return ev;
        });
      })();
    } catch (err) {
      throw toStoreError("closeOpenEvents", this.file, err);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
