import type Database from "better-sqlite3";
import type { SignSighting } from "../analytics/sign-sightings.js";
import type { EventStore } from "./store.js";

export const SIGNS_TOPIC = "signs";

/** One row of the `sign_inventory` view: what a camera has seen of each sign class. */
export interface SignInventoryRow {
  camera: string;
  label: string;
  /** ISO 8601 UTC */
  last_seen: string;
  count: number;
}

/** Sign sightings in the event store; each is stored and queued on `signs` in one transaction. */
export class SignStore {
  private insert: Database.Statement | null = null;

  constructor(private readonly store: EventStore) {}

  record(s: SignSighting): void {
    this.store.inTransaction("recordSighting", (db) => {
      this.insert ??= db.prepare(`
        INSERT OR REPLACE INTO sign_sightings (id, camera, label, score, first_ms, last_ms, box, track_id, snapshot)
        VALUES (@id, @camera, @label, @score, @first_ms, @last_ms, @box, @track_id, @snapshot)`);
      this.insert.run({
        id: s.id, camera: s.camera, label: s.label, score: s.score, first_ms: Date.parse(s.first_seen), last_ms: Date.parse(s.last_seen),
        box: JSON.stringify(s.box), track_id: s.track_id, snapshot: s.snapshot,
      });
      this.store.enqueue(SIGNS_TOPIC, JSON.stringify(s), { qos: 1, retain: false });
    });
  }

  /** Stored sightings, oldest first. */
  sightings(q: { camera?: string; sinceMs?: number; limit?: number } = {}): SignSighting[] {
    return this.store.inTransaction("signSightings", (db) =>
      (
        db
          .prepare(
            `SELECT * FROM sign_sightings WHERE (@camera IS NULL OR camera = @camera) AND first_ms >= @since ORDER BY first_ms, id LIMIT @limit`,
          )
          .all({ camera: q.camera ?? null, since: q.sinceMs ?? 0, limit: q.limit ?? 1000 }) as Array<{
          id: string; camera: string; label: string; score: number; first_ms: number; last_ms: number; box: string; track_id: number; snapshot: string | null;
        }>
      ).map((r) => ({
        id: r.id, camera: r.camera, label: r.label, score: r.score, first_seen: new Date(r.first_ms).toISOString(), last_seen: new Date(r.last_ms).toISOString(),
        box: JSON.parse(r.box) as SignSighting["box"], track_id: r.track_id, snapshot: r.snapshot,
      })),
    );
  }

  /** A camera's sign inventory, by class. */
  inventory(camera: string): SignInventoryRow[] {
    return this.store.inTransaction("signInventory", (db) =>
      (db.prepare("SELECT camera, label, last_seen_ms, count FROM sign_inventory WHERE camera = ? ORDER BY label").all(camera) as Array<{ camera: string; label: string; last_seen_ms: number; count: number }>).map(
        (r) => ({ camera: r.camera, label: r.label, last_seen: new Date(r.last_seen_ms).toISOString(), count: r.count }),
      ),
    );
  }
}
