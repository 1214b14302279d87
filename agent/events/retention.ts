import { statSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import { recordKinds } from "../records/registry.js";
import type { EventStore } from "./store.js";

export interface RetentionPolicy {
  /** records older than this go, ms; none when absent */
  maxAgeMs?: number;
  /** snapshots beyond this many bytes in all go, oldest record first; none when absent */
  maxBytes?: number;
}

/** A stored record that owns a snapshot: an ended event or a sign sighting. */
export interface Kept {
  table: "events" | "sign_sightings";
  id: string;
  /** when it happened, ms since epoch */
  timeMs: number;
  snapshot: string | null;
  /** size of its snapshot on disk (0 when none) */
  bytes: number;
}

/**
 * Which records to delete, oldest first: everything older than the age limit, then more of the oldest until
 * the snapshots left fit the size limit. Pure, so the policy is tested without a disk.
 */
export function retentionPlan(kept: readonly Kept[], nowMs: number, policy: RetentionPolicy): Kept[] {
  const byAge = [...kept].sort((a, b) => a.timeMs - b.timeMs || a.id.localeCompare(b.id));
  const out: Kept[] = [];
  let total = byAge.reduce((s, k) => s + k.bytes, 0);
  for (const k of byAge) {
    const tooOld = policy.maxAgeMs !== undefined && k.timeMs < nowMs - policy.maxAgeMs;
    const tooBig = policy.maxBytes !== undefined && total > policy.maxBytes;
    if (!tooOld && !tooBig) break;
    out.push(k);
    total -= k.bytes;
  }
  return out;
}

const HOUR_MS = 3_600_000;

/**
 * Applies the retention policy to the store and the snapshot folder: at start, then hourly. Rows go first (one
 * transaction), files after, so a crash in between leaves orphan files, never rows pointing at nothing.
 * Open events are never deleted; each record kind's own history (crossings, count reports) older than the age
 * limit goes too (its `prune`), while state such as the lines' totals stays.
 */
export class Retention {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: EventStore,
    private readonly policy: RetentionPolicy,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), HOUR_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass; resolves to the number of records deleted. */
  async run(nowMs = Date.now()): Promise<number> {
    try {
      const kept = this.store.inTransaction("retentionScan", (db) => [
        ...(db.prepare("SELECT id, start_ms AS timeMs, snapshot FROM events WHERE end_ms IS NOT NULL").all() as Kept[]).map((k) => ({
          ...k,
          table: "events" as const,
        })),
        ...(db.prepare("SELECT id, last_ms AS timeMs, snapshot FROM sign_sightings").all() as Kept[]).map((k) => ({ ...k, table: "sign_sightings" as const })),
      ]);
      for (const k of kept) k.bytes = k.snapshot ? fileSize(k.snapshot) : 0;
      const doomed = retentionPlan(kept, nowMs, this.policy);
      this.store.inTransaction("retentionDelete", (db) => {
        const del = { events: db.prepare("DELETE FROM events WHERE id = ?"), sign_sightings: db.prepare("DELETE FROM sign_sightings WHERE id = ?") };
        for (const k of doomed) del[k.table].run(k.id);
        if (this.policy.maxAgeMs !== undefined) for (const kind of recordKinds) kind.prune?.(db, nowMs - this.policy.maxAgeMs);
      });
      await Promise.all(doomed.filter((k) => k.snapshot).map((k) => rm(k.snapshot!, { force: true })));
      if (doomed.length) this.log.info({ deleted: doomed.length }, "retention: old events and snapshots deleted");
      return doomed.length;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "retention pass failed");
      return 0;
    }
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // never written, or already gone
  }
}
