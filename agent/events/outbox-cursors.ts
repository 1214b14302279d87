import type Database from "better-sqlite3";
import type { EventStore, OutboxRow } from "./store.js";

/** Dead letters kept per database: enough to see what a receiver refuses, never a disk filler. */
const MAX_DEAD_LETTERS = 1000;

interface Statements {
  get: Database.Statement;
  set: Database.Statement;
  all: Database.Statement;
  insert: Database.Statement;
  remove: Database.Statement;
  end: Database.Statement;
  min: Database.Statement;
  deleteUpTo: Database.Statement;
  seqsAfter: Database.Statement;
  countAfter: Database.Statement;
  deadLetter: Database.Statement;
  trimDeadLetters: Database.Statement;
}

const prepared = new WeakMap<Database.Database, Statements>();

function statements(db: Database.Database): Statements {
  let s = prepared.get(db);
  if (!s) {
    s = {
      get: db.prepare("SELECT seq FROM outbox_cursors WHERE sink = ?").pluck(),
      set: db.prepare("UPDATE outbox_cursors SET seq = ? WHERE sink = ? AND seq < ?"),
      all: db.prepare("SELECT sink, seq FROM outbox_cursors ORDER BY sink"),
      insert: db.prepare("INSERT INTO outbox_cursors (sink, seq) VALUES (?, ?)"),
      remove: db.prepare("DELETE FROM outbox_cursors WHERE sink = ?"),
      end: db.prepare("SELECT COALESCE(MAX(seq), 0) FROM outbox").pluck(),
      min: db.prepare("SELECT MIN(seq) FROM outbox_cursors").pluck(),
      deleteUpTo: db.prepare("DELETE FROM outbox WHERE seq <= ?"),
      seqsAfter: db.prepare("SELECT seq FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?").pluck(),
      countAfter: db.prepare("SELECT COUNT(*) FROM outbox WHERE seq > ?").pluck(),
      deadLetter: db.prepare("INSERT INTO outbox_dead_letters (sink, seq, topic, payload, reason, time_ms) VALUES (?, ?, ?, ?, ?, ?)"),
      trimDeadLetters: db.prepare("DELETE FROM outbox_dead_letters WHERE id <= (SELECT MAX(id) FROM outbox_dead_letters) - ?"),
    };
    prepared.set(db, s);
  }
  return s;
}

/**
 * Each sink's durable place in the outbox (table outbox_cursors). A sink reads the rows after its cursor; a row
 * is deleted once every configured sink's cursor has passed it, so a sink that is down holds rows back for
 * itself without holding back the others.
 */
export class OutboxCursors {
  constructor(private readonly store: EventStore) {}

  /**
   * Makes `sinks` the configured set and returns each one's cursor. A sink no longer configured loses its cursor
   * (and stops holding rows back); a sink seen for the first time starts at the end of the outbox: it gets what
   * is recorded from now on, not a backlog whose size depends on how far behind the other sinks happen to be.
   */
  activate(sinks: readonly string[]): Record<string, number> {
    return this.store.inTransaction("activateSinks", (db) => {
      const s = statements(db);
      const known = new Map((s.all.all() as Array<{ sink: string; seq: number }>).map((r) => [r.sink, r.seq]));
      for (const name of known.keys()) if (!sinks.includes(name)) s.remove.run(name);
      const end = s.end.get() as number;
      const out: Record<string, number> = {};
      for (const name of sinks) {
        let seq = known.get(name);
        if (seq === undefined) {
          seq = end;
          s.insert.run(name, seq);
        }
        out[name] = seq;
      }
      deletePassed(s);
      return out;
    });
  }

  /** The sink's cursor; 0 for a sink without one. */
  get(sink: string): number {
    return this.store.inTransaction("outboxCursor", (db) => (statements(db).get.get(sink) as number | undefined) ?? 0);
  }

  /** Moves the sink's cursor forward to `seq` (never back) and deletes the rows every sink has now passed. */
  advance(sink: string, seq: number): void {
    this.store.inTransaction("advanceOutboxCursor", (db) => {
      const s = statements(db);
      s.set.run(seq, sink, seq);
      deletePassed(s);
    });
  }

  /**
   * Moves the sink's cursor from `from` over the rows that follow it while each is in `acked`, in one
   * transaction, deleting what every sink has passed; returns the new cursor. Rows no longer there (removed by
   * the outbox bound) are not waited for.
   */
  advanceOver(sink: string, from: number, acked: ReadonlySet<number>): number {
    return this.store.inTransaction("advanceOutboxCursor", (db) => {
      const s = statements(db);
      let to = from;
      for (const seq of s.seqsAfter.all(from, acked.size) as number[]) {
        if (!acked.has(seq)) break;
        to = seq;
      }
      if (to > from) {
        s.set.run(to, sink, to);
        deletePassed(s);
      }
      return to;
    });
  }

  /** Rows after `afterSeq`: a sink's lag when given its cursor. */
  countAfter(afterSeq: number): number {
    return this.store.inTransaction("outboxLag", (db) => statements(db).countAfter.get(afterSeq) as number);
  }

  /** Keeps a row a sink's receiver refused for good, with why (newest MAX_DEAD_LETTERS kept). */
  deadLetter(sink: string, row: OutboxRow, reason: string): void {
    this.store.inTransaction("deadLetter", (db) => {
      const s = statements(db);
      s.deadLetter.run(sink, row.seq, row.topic, row.payload, reason, Date.now());
      s.trimDeadLetters.run(MAX_DEAD_LETTERS);
    });
  }
}

function deletePassed(s: Statements): void {
  const min = s.min.get() as number | null;
  if (min !== null && min > 0) s.deleteUpTo.run(min);
}

/**
 * Moves the rows not yet delivered to every sink into another store, in order, with each sink's cursor carried
 * over, so a storage move neither loses a row nor sends one again to a sink that already had it. When the
 * target already holds rows some sink has not had, that sink keeps its cursor there: it gets the moved rows it
 * had again rather than skip those. Returns the rows moved.
 */
export function moveOutbox(from: EventStore, to: EventStore): number {
  const toCursors = new OutboxCursors(to);
  const cursors = from.inTransaction("outboxCursors", (db) => statements(db).all.all() as Array<{ sink: string; seq: number }>);
  const names = cursors.map((c) => c.sink);
  const target = toCursors.activate(names);
  const targetEnd = to.inTransaction("outboxEnd", (db) => statements(db).end.get() as number);
  // A sink's translated cursor: the new seq of the last moved row it had passed in the old file.
  const translated = new Map<string, number>();
  let moved = 0;
  for (let rows = from.peekOutbox(0, 500); rows.length; rows = from.peekOutbox(0, 500)) {
    to.inTransaction("moveOutbox", () => {
      for (const row of rows) {
        const seq = to.enqueue(row.topic, row.payload, { qos: row.qos, retain: row.retain });
        for (const c of cursors) if (row.seq <= c.seq) translated.set(c.sink, seq);
      }
      for (const [sink, seq] of translated) if (target[sink]! >= targetEnd) toCursors.advance(sink, seq);
    });
    from.deleteOutboxRows(rows.map((r) => r.seq));
    moved += rows.length;
  }
  return moved;
}
