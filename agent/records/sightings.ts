import { z } from "zod";
import type { Box } from "../core/geometry.js";
import type { RecordKind } from "../core/records.js";
import { cameraName, deviceId, time } from "./schema-parts.js";

export const SIGNS_TOPIC = "signs";

/** One physical sign seen in one pass, as stored and published on `signs`. */
export interface SignSighting {
  id: string;
  camera: string;
  /** the class with the highest summed score over the pass */
  label: string;
  /** best detection score of that class during the pass */
  score: number;
  /** ISO 8601 UTC */
  first_seen: string;
  last_seen: string;
  /** the box of the best view (largest and sharpest), detect-frame pixels */
  box: Box;
  track_id: number;
  /** JPEG of the best view; null until written */
  snapshot: string | null;
}

export type SightingRecord = SignSighting & { device: string };

export const signSchema = z
  .looseObject({
    id: z.string().describe("sighting id (ULID), also the snapshot's file name"),
    camera: cameraName,
    label: z.string().describe("class by score-weighted vote over the pass"),
    track_id: z.union([z.number(), z.string()]),
    box: z.tuple([z.number(), z.number(), z.number(), z.number()]).describe("the best view's box, detect-frame pixels"),
    first_seen: time,
    last_seen: time,
    score: z.number().min(0).max(1),
    snapshot: z.string().nullable(),
    device: deviceId.optional(),
  })
  .describe("one sighting of a traffic sign per pass");

type Row = {
  id: string;
  camera: string;
  label: string;
  score: number;
  first_ms: number;
  last_ms: number;
  box: string;
  track_id: number;
  snapshot: string | null;
  device: string | null;
};

/** A stored sign_sightings row as the sighting it records. */
export function rowToSighting(r: Row): SightingRecord {
  return {
    id: r.id,
    device: r.device ?? "",
    camera: r.camera,
    label: r.label,
    score: r.score,
    first_seen: new Date(r.first_ms).toISOString(),
    last_seen: new Date(r.last_ms).toISOString(),
    box: JSON.parse(r.box) as Box,
    track_id: r.track_id,
    snapshot: r.snapshot,
  };
}

/** Traffic-sign sightings, one per physical sign per pass: stored and queued on `signs` together. */
export const sightings: RecordKind<SightingRecord> = {
  name: "sightings",
  channels: [
    {
      id: "signs",
      address: "signs",
      schemaName: "SignSighting",
      schema: signSchema,
      title: "Traffic sign sightings",
      description: "One message per physical sign per pass.",
    },
  ],
  migrations: [{ version: 1, name: "device on sign sightings", up: (db) => db.exec("ALTER TABLE sign_sightings ADD COLUMN device TEXT") }],
  write(db, s) {
    db.prepare(`
      INSERT OR REPLACE INTO sign_sightings (id, camera, label, score, first_ms, last_ms, box, track_id, snapshot, device)
      VALUES (@id, @camera, @label, @score, @first_ms, @last_ms, @box, @track_id, @snapshot, @device)`).run({
      id: s.id,
      camera: s.camera,
      label: s.label,
      score: s.score,
      first_ms: Date.parse(s.first_seen),
      last_ms: Date.parse(s.last_seen),
      box: JSON.stringify(s.box),
      track_id: s.track_id,
      snapshot: s.snapshot,
      device: s.device,
    });
    return [{ topic: SIGNS_TOPIC, payload: s, retain: false }];
  },
  counter: {
    name: "eva_sign_sightings_total",
    help: "Traffic-sign sightings (one per sign per pass), by camera and class",
    labelNames: ["camera", "label"],
    labels: (s) => ({ camera: s.camera, label: s.label }),
  },
  list: (db, q) =>
    (
      db
        .prepare(
          `SELECT * FROM sign_sightings WHERE (@camera IS NULL OR camera = @camera) AND (@label IS NULL OR label = @label) AND first_ms >= @since AND first_ms < @until
           ORDER BY first_ms DESC, id DESC LIMIT @limit`,
        )
        .all({ camera: q.camera ?? null, label: q.label ?? null, since: q.sinceMs ?? 0, until: q.untilMs ?? Number.MAX_SAFE_INTEGER, limit: q.limit }) as Row[]
    ).map(rowToSighting),
};
