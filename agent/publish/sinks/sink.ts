import type { Outbox, OutboxMessage } from "../outbox.js";

/** One sink's figures for stats and /metrics. */
export interface SinkFigures {
  /** outbox rows after this sink's cursor (null when the store cannot be read now) */
  lag: number | null;
  /** connected (MQTT) or the last request answered 2xx (webhook) */
  up: boolean;
  /** messages the receiver acknowledged since start */
  delivered: number;
  /** failed attempts since start (each retried) */
  errors: number;
  /** messages the receiver refused for good, kept in outbox_dead_letters and passed */
  dead_lettered: number;
}

/** A consumer of the outbox. Built stopped; start() never fails because its receiver is down. */
export interface Sink {
  readonly name: string;
  start(): void;
  /** something was queued: look now rather than at the next poll */
  notify(): void;
  /** delivers what it can for up to flushTimeoutMs, then stops; what is left waits in the outbox */
  stop(flushTimeoutMs: number): Promise<void>;
  figures(): SinkFigures;
}

/** Where a sink's cursor lives (agent/events/outbox-cursors.ts's OutboxCursors satisfies it). */
export interface CursorStore {
  advance(sink: string, seq: number): void;
  advanceOver(sink: string, from: number, acked: ReadonlySet<number>): number;
  countAfter(afterSeq: number): number;
  deadLetter(sink: string, row: OutboxMessage, reason: string): void;
}

/**
 * One sink's view of the shared outbox: the rows after its cursor. To OutboxPublisher it is an ordinary Outbox
 * whose deleteOutbox is an acknowledgement; acknowledgements may come out of order (MQTT's window), and the
 * cursor moves only past rows acknowledged with nothing unacknowledged before them, so a restart resends from
 * the first row this sink has not had and never skips one.
 */
export class SinkOutbox implements Outbox {
  private at: number;
  /** acknowledged rows after the cursor, waiting for an earlier one */
  private readonly acked = new Set<number>();
  /** acknowledgements since start */
  acknowledged = 0;

  constructor(
    readonly sink: string,
    private readonly rows: Pick<Outbox, "peekOutbox">,
    private readonly cursors: CursorStore,
    start: number,
  ) {
    this.at = start;
  }

  /** Every row up to here is this sink's past. */
  get cursor(): number {
    return this.at;
  }

  /** Up to `limit` rows after both afterSeq and the cursor that this sink has not had acknowledged. */
  peekOutbox(afterSeq: number, limit: number): OutboxMessage[] {
    let after = Math.max(afterSeq, this.at);
    const out: OutboxMessage[] = [];
    while (out.length < limit) {
      const rows = this.rows.peekOutbox(after, limit - out.length);
      for (const r of rows) if (!this.acked.has(r.seq)) out.push(r);
      if (rows.length === 0 || this.acked.size === 0) break;
      after = rows[rows.length - 1]!.seq;
    }
    return out;
  }

  /** The receiver acknowledged this row (in any order). */
  deleteOutbox(seq: number): void {
    if (seq <= this.at || this.acked.has(seq)) return;
    this.acknowledged++;
    this.acked.add(seq);
    // Persisted first: a store fault leaves the cursor where the database has it, and the rows are sent again.
    const to = this.cursors.advanceOver(this.sink, this.at, this.acked);
    if (to > this.at) this.moved(to);
  }

  /** For a sink that goes in order: every row up to seq is done (delivered, or not meant for it). */
  advanceTo(seq: number): void {
    if (seq > this.at) this.moveTo(seq);
  }

  /** Keeps a row the receiver refused for good, with why, and passes it. */
  deadLetter(row: OutboxMessage, reason: string): void {
    this.cursors.deadLetter(this.sink, row, reason);
    this.advanceTo(row.seq);
  }

  /** This sink's lag: rows after its cursor. */
  outboxDepth(): number {
    return this.cursors.countAfter(this.at);
  }

  private moveTo(seq: number): void {
    this.cursors.advance(this.sink, seq);
    this.moved(seq);
  }

  private moved(seq: number): void {
    this.at = seq;
    for (const s of this.acked) if (s <= seq) this.acked.delete(s);
  }
}
