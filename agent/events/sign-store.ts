import { rowToSighting, sightings, type SightingRecord } from "../records/sightings.js";
import { loadSignAssets, type SignAssetRecord } from "../records/sign-assets.js";
import { Recorder } from "./recorder.js";
import type { EventStore } from "./store.js";

/** One row of the `sign_inventory` view: what a camera has seen of each sign class. */
export interface SignInventoryRow {
  camera: string;
  label: string;
  /** ISO 8601 UTC */
  last_seen: string;
  count: number;
}

/** Sign sightings in the event store: the CLI's queries and the sign inventory (agent/records/sightings.ts writes them). */
export class SignStore {
  constructor(private readonly store: EventStore) {}

  record(s: SightingRecord): void {
    new Recorder(this.store).record(sightings, s);
  }

  /** Stored sightings, oldest first. */
  sightings(q: { camera?: string; sinceMs?: number; limit?: number } = {}): SightingRecord[] {
    return this.store.inTransaction("signSightings", (db) =>
      (
        db
          .prepare(`SELECT * FROM sign_sightings WHERE (@camera IS NULL OR camera = @camera) AND first_ms >= @since ORDER BY first_ms, id LIMIT @limit`)
          .all({ camera: q.camera ?? null, since: q.sinceMs ?? 0, limit: q.limit ?? 1000 }) as Parameters<typeof rowToSighting>[0][]
      ).map(rowToSighting),
    );
  }

  /** The sign inventory's assets (located sightings merged across passes), oldest first. */
  assets(): SignAssetRecord[] {
    return this.store.inTransaction("signAssets", (db) => loadSignAssets(db));
  }

  /** A camera's sign inventory, by class. */
  inventory(camera: string): SignInventoryRow[] {
    return this.store.inTransaction("signInventory", (db) =>
      (
        db.prepare("SELECT camera, label, last_seen_ms, count FROM sign_inventory WHERE camera = ? ORDER BY label").all(camera) as Array<{
          camera: string;
          label: string;
          last_seen_ms: number;
          count: number;
        }>
      ).map((r) => ({ camera: r.camera, label: r.label, last_seen: new Date(r.last_seen_ms).toISOString(), count: r.count })),
    );
  }
}
