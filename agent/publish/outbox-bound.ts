import type { Logger } from "pino";
import { EVENTS } from "./topics.js";

/** An outbox row as the bound sees it. */
export interface BoundRow {
  seq: number;
  topic: string;
  payload: string;
  retain: boolean;
  created_ms: number;
}

export interface BoundLimits {
  maxRows: number;
  maxAgeMs: number;
}

export interface BoundPlan {
  /** superseded messages: an event update with a later message for the same event, an older retained value */
  compact: number[];
  /** messages lost to the bound: too old, or the queue still too long after compaction */
  drop: number[];
  /** what the dropped rows were, for the log: topic or `events:<change>` → count */
  dropped: Record<string, number>;
}

function eventOf(row: BoundRow): { id: string; change: string } | null {
  if (row.topic !== EVENTS) return null;
  try {
    const m = JSON.parse(row.payload) as { type?: unknown; event?: { id?: unknown } };
    return typeof m.event?.id === "string" && typeof m.type === "string" ? { id: m.event.id, change: m.type } : null;
  } catch {
    return null;
  }
}

/**
 * What to remove so the outbox fits its bound (pure). Order of sacrifice: messages older than maxAge; then,
 * only while over maxRows, superseded messages (an event `update` followed by a later message about the same
 * event, a retained value followed by a newer one on the same topic: the control room ends in the same state
 * without them); then the oldest remaining `update`s; `new`, `end` and everything else only as a last resort,
 * oldest first.
 */
export function planBound(rows: readonly BoundRow[], limits: BoundLimits, now: number): BoundPlan {
  const plan: BoundPlan = { compact: [], drop: [], dropped: {} };
  const gone = new Set<number>();
  const label = (r: BoundRow): string => {
    const e = eventOf(r);
    return e ? `events:${e.change}` : r.topic.split("/")[0]!;
  };
  const drop = (r: BoundRow): void => {
    gone.add(r.seq);
    plan.drop.push(r.seq);
    const k = label(r);
    plan.dropped[k] = (plan.dropped[k] ?? 0) + 1;
  };
  for (const r of rows) if (now - r.created_ms > limits.maxAgeMs) drop(r);
  let left = rows.length - gone.size;
  if (left <= limits.maxRows) return plan;

  // Newest first: the first message seen per event / retained topic is the one that stays.
  const laterEvent = new Set<string>();
  const laterRetained = new Set<string>();
  const updates: BoundRow[] = [];
  for (let i = rows.length - 1; i >= 0; i--) {
    const r = rows[i]!;
    if (gone.has(r.seq)) continue;
    const e = eventOf(r);
    if (e) {
      if (e.change === "update" && laterEvent.has(e.id)) {
        gone.add(r.seq);
        plan.compact.push(r.seq);
      } else if (e.change === "update") {
        updates.push(r);
      }
      laterEvent.add(e.id);
    } else if (r.retain) {
      if (laterRetained.has(r.topic)) {
        gone.add(r.seq);
        plan.compact.push(r.seq);
      }
      laterRetained.add(r.topic);
    }
  }
  left = rows.length - gone.size;
  for (let i = updates.length - 1; i >= 0 && left > limits.maxRows; i--, left--) drop(updates[i]!); // oldest first
  for (const r of rows) {
    if (left <= limits.maxRows) break;
    if (gone.has(r.seq)) continue;
    drop(r);
    left--;
  }
  plan.compact.sort((a, b) => a - b);
  return plan;
}

/** What the bound needs from the store. */
export interface BoundStore {
  outboxDepth(): number;
  listOutbox(afterSeq: number, limit: number): BoundRow[];
  deleteOutboxRows(seqs: readonly number[]): void;
}

/**
 * Keeps the outbox within mqtt.outbox's bound while the broker is away: checks every few seconds, cheaply
 * (depth and the oldest row's age) unless a limit is passed. Every compaction and drop is counted and logged.
 */
export class OutboxBound {
  compacted = 0;
  dropped = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: BoundStore,
    private readonly limits: BoundLimits,
    private readonly log: Logger,
  ) {}

  start(everyMs = 5000): void {
    this.timer = setInterval(() => this.check(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Applies the bound now; returns the plan carried out (null when within bounds or on a store fault). */
  check(now = Date.now()): BoundPlan | null {
    try {
      const depth = this.store.outboxDepth();
      const oldest = this.store.listOutbox(0, 1)[0];
      if (depth <= this.limits.maxRows && (!oldest || now - oldest.created_ms <= this.limits.maxAgeMs)) return null;
      const rows = this.store.listOutbox(0, Number.MAX_SAFE_INTEGER);
      const plan = planBound(rows, this.limits, now);
      this.store.deleteOutboxRows([...plan.compact, ...plan.drop]);
      this.compacted += plan.compact.length;
      this.dropped += plan.drop.length;
      if (plan.drop.length) {
        this.log.warn(
          { depth, dropped: plan.drop.length, compacted: plan.compact.length, what: plan.dropped, ...this.limits },
          "outbox full or stale: messages dropped",
        );
      } else if (plan.compact.length) {
        this.log.info({ depth, compacted: plan.compact.length, ...this.limits }, "outbox compacted: superseded messages removed");
      }
      return plan;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "outbox bound check failed");
      return null;
    }
  }
}
