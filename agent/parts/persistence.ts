import { realpathSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import type { ConfigProblem, LoadedConfig } from "../config/load.js";
import { locate } from "../config/load.js";
import type { ReloadPlan } from "../config/diff.js";
import type { Config } from "../config/schema.js";
import type { EvaEvent, EventChange } from "../core/event.js";
import { Retention } from "../events/retention.js";
import { SnapshotWriter } from "../events/snapshot.js";
import { HeldWrites } from "../events/held-writes.js";
import { Recorder, type Unstamped } from "../events/recorder.js";
import { moveOutbox as moveOutboxRows } from "../events/outbox-cursors.js";
import { EventStore, type EventQuery, type EventStoreOptions } from "../events/store.js";
import { rowToSighting, sightings } from "../records/sightings.js";
import type { RecordEnvelope, RecordKind, RecordMessage } from "../core/records.js";
import { SignAssetBook } from "../analytics/sign-assets.js";
import { loadSignAssets } from "../records/sign-assets.js";
import { ReloadError, unchanged, type PreparedChange } from "./part.js";

/** About a minute of a busy site's events, crossings and occupancy; a few MB of memory at most. */
const MAX_HELD_WRITES = 20_000;

/**
 * Everything that writes to disk: the event store with its outbox, crossings, sign sightings, snapshots and
 * retention. Callers go through this part, never a store they kept, so a reload that moves the database is
 * followed by cameras and the uplink without them holding a closed handle.
 */
export class Persistence {
  private db!: EventStore;
  private recorder!: Recorder;
  private writer!: SnapshotWriter;
  private retention: Retention | null = null;
  /** writes the database could not take (disk full), waiting in order */
  readonly held: HeldWrites;
  private flushTimer: NodeJS.Timeout | null = null;
  private assetBook: SignAssetBook | null = null;

  constructor(
    private readonly log: Logger,
    /** store options (a size cap); the agent uses none */
    private readonly storeOptions: EventStoreOptions = {},
    maxHeldWrites = MAX_HELD_WRITES,
  ) {
    this.held = new HeldWrites(maxHeldWrites, log);
  }

  /** Opens the database (throws StoreError when it cannot) and starts retention. */
  start(cfg: Config): void {
    this.use(new EventStore(cfg.storage.db, this.storeOptions));
    // Held writes are tried again every second: space returns when retention or the outbox frees pages. Held
    // JPEGs go first, so a record held with them goes in after its picture is on disk.
    this.flushTimer = setInterval(() => void this.writer.retryHeld().finally(() => this.held.held && this.held.flush()), 1000);
    this.flushTimer.unref();
    this.writer = this.snapshotWriter(cfg.storage.snapshots);
    this.startRetention(cfg);
  }

  /** The open store: the outbox the uplink reads and the events the control room queries. */
  get store(): EventStore {
    return this.db;
  }

  get snapshots(): SnapshotWriter {
    return this.writer;
  }

  /** The open store's sign inventory, read once: the cameras' rules change it, and the store keeps each change. */
  get signAssets(): SignAssetBook {
    this.assetBook ??= new SignAssetBook(this.db.inTransaction("loadSignAssets", (db) => loadSignAssets(db)));
    return this.assetBook;
  }

  // Every write goes through the held-writes queue: on a full disk it is kept in memory, in order, not lost.
  recordEvent(change: EventChange, ev: EvaEvent): void {
    this.held.run("recordEvent", (e) => this.db.recordEvent(change, this.honest(e)), ev);
  }

  /** A record as it may be stored when it is written (a held write goes in later): no snapshot given up. */
  private honest<T extends { id: string; snapshot?: string | null }>(r: T): T {
    return r.snapshot && this.writer.lost(r.id) ? { ...r, snapshot: null } : r;
  }

  private snapshotWriter(dir: string): SnapshotWriter {
    return new SnapshotWriter(dir, (id) => {
      this.log.error({ record: id }, "snapshot could not be written and was given up: its record says it has none");
      // In order behind any held write of the record, and against what is stored by then.
      this.held.run("snapshotLost", (i) => this.forgetSnapshot(i), id);
    });
  }

  /** The stored event or sign sighting `id` names a snapshot that will never be written: it is recorded without. */
  private forgetSnapshot(id: string): void {
    const ev = this.db.eventById(id);
    if (ev) {
      if (ev.snapshot) this.db.recordEvent("update", { ...ev, snapshot: null });
      return;
    }
    const row = this.db.inTransaction("sightingById", (db) => db.prepare("SELECT * FROM sign_sightings WHERE id = ?").get(id)) as
      | Parameters<typeof rowToSighting>[0]
      | undefined;
    if (row?.snapshot) this.recorder.record(sightings, { ...rowToSighting(row), snapshot: null });
  }

  /**
   * Stores a record of any kind with the messages announcing it (agent/records). Returns them, or null while
   * writes are held (it is stored, and published, once they go in, with the id it has now).
   */
  record<T extends RecordEnvelope>(kind: RecordKind<T, never>, record: Unstamped<T>): RecordMessage[] | null {
    return (
      this.held.run(`record ${kind.name}`, (r) => this.recorder.record(kind, this.honest(r as T & { snapshot?: string | null })), Recorder.stamp<T>(record)) ??
      null
    );
  }

  enqueue(topic: string, payload: string, opts: { qos: 0 | 1 | 2; retain: boolean }): void {
    this.held.run("enqueue", (p) => this.db.enqueue(topic, p, opts), payload);
  }

  /** Why persistence makes the agent unhealthy: writes held because the database cannot take them. */
  healthReasons(): string[] {
    const h = this.held;
    const jpegs = this.writer?.heldCount ?? 0;
    const out = jpegs ? [`${jpegs} snapshots could not be written (disk full?); held in memory and tried again`] : [];
    if (!h.held && !h.dropped) return out;
    const now = h.held ? `${h.held} writes held in memory (${h.lastError})` : "";
    const lost = h.dropped ? `${h.dropped} dropped over the bound of ${h.max}` : "";
    return [`database ${this.db.file} cannot be written: ${[now, lost].filter(Boolean).join("; ")}`, ...out];
  }

  queryEvents(q: EventQuery): EvaEvent[] {
    return this.db.queryEvents(q);
  }

  /**
   * A moved database is opened now (it may fail); it takes over, with the undelivered messages, at commit.
   * Retention and the snapshot folder change in place, on the same database.
   */
  async prepare(next: LoadedConfig, plan: ReloadPlan): Promise<PreparedChange> {
    const cfg = next.config;
    // The same file under another name (a symlink, a relative path) is no move: a second handle on it would
    // re-enqueue the outbox into itself for ever.
    if (!plan.storage || sameFile(cfg.storage.db, this.db.file)) {
      // Clips' retain_days are the cameras' keys, applied by the same retention.
      const clipAges = plan.changed.some((k) => /^cameras\.[^.]+(\.record(\.retain_days)?)?$/.test(k));
      if (!plan.storageLive && !clipAges) return unchanged;
      return {
        abort: async () => {},
        commit: async () => {
          this.writer.moveTo(cfg.storage.snapshots);
          this.startRetention(cfg);
        },
      };
    }
    let store: EventStore;
    try {
      store = new EventStore(cfg.storage.db, this.storeOptions);
    } catch (err) {
      const keys = ["storage", "db"];
      const problem: ConfigProblem = { file: next.file, ...locate(next.text, keys), path: keys.join("."), message: (err as Error).message };
      throw new ReloadError([problem]);
    }
    return {
      abort: async () => store.close(),
      commit: async () => {
        await this.writer.idle();
        this.retention?.stop();
        try {
          moveOutbox(this.db, store, this.log);
        } catch (err) {
          // A commit cannot fail: what did not move is still in the old file, and the log says where.
          this.log.error(
            { from: this.db.file, to: store.file, err: (err as Error).message },
            "undelivered messages could not all move; the rest stay in the old database file",
          );
        }
        this.db.close();
        this.use(store);
        this.writer = this.snapshotWriter(cfg.storage.snapshots);
        this.startRetention(cfg);
      },
    };
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    // A last try for held JPEGs; those that still fail are given up, and their records say so.
    await this.writer?.retryHeld();
    this.writer?.giveUpHeld();
    this.held.flush();
    if (this.held.held) this.log.error({ lost: this.held.held }, "stopping with writes the database could not take; they are lost");
    await this.writer?.idle();
    this.retention?.stop();
    this.db?.close();
  }

  private use(store: EventStore): void {
    this.db = store;
    this.assetBook = null;
    this.recorder = new Recorder(store);
    // Before any camera writes: events left open by an unclean stop end now, on MQTT too. A database that cannot
    // take it (full) still runs: the events stay open and are ended at the next start.
    try {
      const ended = store.closeOpenEvents("agent restarted after an unclean stop; the event ended at its last change");
      if (ended.length) this.log.warn({ events: ended.length, db: store.file }, "events left open by an unclean stop ended");
    } catch (err) {
      this.log.error({ db: store.file, err: (err as Error).message }, "events left open by an unclean stop could not be ended now");
    }
  }

  private startRetention(cfg: Config): void {
    this.retention?.stop();
    this.retention = null;
    const keep = cfg.storage.retention;
    const clipMaxAgeMs = Object.fromEntries(
      // A config without cameras (a tool's, a test's) keeps its clips.
      Object.entries(cfg.cameras ?? {}).flatMap(([name, cam]) => (cam.record?.retain_days !== undefined ? [[name, cam.record.retain_days * 86_400_000]] : [])),
    );
    if (keep?.days === undefined && keep?.max_mb === undefined && !Object.keys(clipMaxAgeMs).length) return;
    this.retention = new Retention(
      this.db,
      {
        ...(keep?.days !== undefined ? { maxAgeMs: keep.days * 86_400_000 } : {}),
        ...(keep?.max_mb !== undefined ? { maxBytes: keep.max_mb * 1_048_576 } : {}),
        clipsDir: cfg.storage.clips,
        clipMaxAgeMs,
      },
      this.log,
    );
    this.retention.start();
  }
}

function sameFile(a: string, b: string): boolean {
  const real = (f: string) => {
    try {
      return realpathSync(f);
    } catch {
      return path.resolve(f);
    }
  };
  return real(a) === real(b);
}

/** Messages not yet delivered follow the database to its new place, in order, so a storage move loses none. */
function moveOutbox(from: EventStore, to: EventStore, log: Logger): void {
  const moved = moveOutboxRows(from, to);
  if (moved) log.info({ messages: moved }, "undelivered messages moved to the new database");
}
