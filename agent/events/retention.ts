import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { rm } from "node:fs/promises";
import type { Logger } from "pino";
import { recordKinds } from "../records/registry.js";
import type { EventStore } from "./store.js";

export interface RetentionPolicy {
  /** records older than this go, ms; none when absent */
  maxAgeMs?: number;
  /** snapshots, clips and the recording segments beyond this many bytes in all go, oldest record first; none when absent */
  maxBytes?: number;
  /** storage.clips: its cameras' segment ring buffers count towards maxBytes */
  clipsDir?: string;
  /** per camera (record.retain_days), ms: its clips older than this are deleted, their events kept */
  clipMaxAgeMs?: Readonly<Record<string, number>>;
}

/** A stored record that owns a snapshot (and an event, maybe a clip): an ended event or a sign sighting. */
export interface Kept {
  table: "events" | "sign_sightings";
  id: string;
  /** when it happened, ms since epoch */
  timeMs: number;
  snapshot: string | null;
  clip?: string | null;
  /** size of its snapshot and clip on disk (0 when none) */
  bytes: number;
}

/**
 * Which records to delete, oldest first: everything older than the age limit, then more of the oldest until
 * the files left (and `reservedBytes`, the recording segments, which only time frees) fit the size limit.
 * Pure, so the policy is tested without a disk.
 */
export function retentionPlan(kept: readonly Kept[], nowMs: number, policy: RetentionPolicy, reservedBytes = 0): Kept[] {
  const byAge = [...kept].sort((a, b) => a.timeMs - b.timeMs || a.id.localeCompare(b.id));
  const out: Kept[] = [];
  let total = byAge.reduce((s, k) => s + k.bytes, reservedBytes);
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
        ...(db.prepare("SELECT id, start_ms AS timeMs, snapshot, clip FROM events WHERE end_ms IS NOT NULL").all() as Kept[]).map((k) => ({
          ...k,
          table: "events" as const,
        })),
        ...(db.prepare("SELECT id, last_ms AS timeMs, snapshot FROM sign_sightings").all() as Kept[]).map((k) => ({ ...k, table: "sign_sightings" as const })),
      ]);
      const oldClips = this.expireClips(nowMs, kept);
      for (const k of kept) k.bytes = (k.snapshot ? fileSize(k.snapshot) : 0) + (k.clip ? fileSize(k.clip) : 0);
      const doomed = retentionPlan(kept, nowMs, this.policy, this.policy.clipsDir ? segmentBytes(this.policy.clipsDir) : 0);
      this.store.inTransaction("retentionDelete", (db) => {
        const del = { events: db.prepare("DELETE FROM events WHERE id = ?"), sign_sightings: db.prepare("DELETE FROM sign_sightings WHERE id = ?") };
        for (const k of doomed) del[k.table].run(k.id);
        if (this.policy.maxAgeMs !== undefined) for (const kind of recordKinds) kind.prune?.(db, nowMs - this.policy.maxAgeMs);
      });
      await Promise.all(doomed.flatMap((k) => [k.snapshot, k.clip]).map((f) => f && rm(f, { force: true })));
      await Promise.all(oldClips.map((f) => rm(f, { force: true })));
      if (doomed.length) this.log.info({ deleted: doomed.length }, "retention: old events and snapshots deleted");
      if (oldClips.length) this.log.info({ deleted: oldClips.length }, "retention: old clips deleted");
      return doomed.length;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "retention pass failed");
      return 0;
    }
  }

  /**
   * Forgets the clips older than their camera's record.retain_days (their events stay); returns their files, to
   * delete once the rows no longer name them. `kept` loses them too, so they count no more towards the size.
   */
  private expireClips(nowMs: number, kept: Kept[]): string[] {
    const ages = Object.entries(this.policy.clipMaxAgeMs ?? {});
    if (!ages.length) return [];
    return this.store.inTransaction("retentionClips", (db) => {
      const old = db.prepare("SELECT id, clip FROM events WHERE camera = ? AND clip IS NOT NULL AND start_ms < ?");
      const forget = db.prepare("UPDATE events SET clip = NULL, clip_duration_s = NULL, clip_bytes = NULL WHERE id = ?");
      const files: string[] = [];
      for (const [camera, ms] of ages) {
        for (const r of old.all(camera, nowMs - ms) as Array<{ id: string; clip: string }>) {
          forget.run(r.id);
          files.push(r.clip);
          const k = kept.find((x) => x.table === "events" && x.id === r.id);
          if (k) k.clip = null;
        }
      }
      return files;
    });
  }
}

/** Bytes of the recording segments under storage.clips (`<camera>/segments/*.ts`). */
function segmentBytes(clipsDir: string): number {
  let total = 0;
  let cameras: string[] = [];
  try {
    cameras = readdirSync(clipsDir);
  } catch {
    return 0;
  }
  for (const camera of cameras) {
    const dir = path.join(clipsDir, camera, "segments");
    let files: string[] = [];
    try {
      files = readdirSync(dir);
    } catch {
      continue;
    }
    for (const f of files) if (f.endsWith(".ts")) total += fileSize(path.join(dir, f));
  }
  return total;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // never written, or already gone
  }
}
