import { z } from "zod";
import { TRACK_FIELDS, type EvaEvent, type EventChange, type EventClip } from "../core/event.js";
import type { RecordKind } from "../core/records.js";
import { cameraName, revision, time } from "./schema-parts.js";

export const EVENTS_TOPIC = "events";

const box = z.tuple([z.number(), z.number(), z.number(), z.number()]).describe("[x1, y1, x2, y2] in detect-frame pixels");

export const eventSchema = z.looseObject({
  id: z.string().describe("unique, sortable by creation time (ULID)"),
  device: z.string(),
  camera: cameraName,
  label: z.string(),
  start_time: time,
  end_time: time.nullable().describe("null while the event is open"),
  top_score: z.number().min(0).max(1),
  box,
  snapshot: z.string().nullable().describe("path of the best frame's JPEG on the device"),
  track_id: z.union([z.number(), z.string()]).optional(),
  current_zones: z.array(z.string()).optional(),
  entered_zones: z.array(z.string()).optional(),
  stationary: z.boolean().optional(),
  clip: z
    .strictObject({
      path: z.string().describe("the MP4's path on the device; served at /clips/<camera>/<file> on the HTTP port"),
      duration_seconds: z.number().min(0),
      bytes: z.number().int().min(0),
    })
    .nullable()
    .optional()
    .describe(
      "the event's video (record.enabled): null until the MP4 is on disk; once it is, the ended event is sent again as an update with a higher revision. Absent when the camera does not record",
    ),
});

export const eventMessageSchema = z
  .looseObject({
    type: z.enum(["new", "update", "end"]),
    event: eventSchema,
    revision: revision.optional().describe("grows with every change of this event: the highest is its newest state"),
    reason: z.string().optional().describe("on an end the agent did not see happen: why it was ended (e.g. after an unclean stop, at the next start)"),
  })
  .describe("one change of an event's lifecycle, on events; per camera in order, QoS 1 from the durable outbox");

export type EventMessage = z.infer<typeof eventMessageSchema>;

const EVENT_STAGE: Record<string, number> = { new: 0, update: 1, end: 2 };

/** One change of an event: the record is the event (its id and device), which changes over time. */
export interface EventRecord {
  id: string;
  device: string;
  camera: string;
  change: EventChange;
  event: EvaEvent;
  /** on an end the agent did not see happen: why it was ended */
  reason?: string;
}

/** The event's tracking fields as one JSON column, or null for an event without them. */
function trackJson(ev: EvaEvent): string | null {
  const fields = Object.fromEntries(TRACK_FIELDS.filter((k) => ev[k] !== undefined).map((k) => [k, ev[k]]));
  return Object.keys(fields).length ? JSON.stringify(fields) : null;
}

/** The clip columns of an events row. */
export interface ClipColumns {
  clip: string | null;
  clip_duration_s: number | null;
  clip_bytes: number | null;
}

/** An events row's clip, null when it has none. */
export function clipOf(r: ClipColumns): EventClip | null {
  return r.clip === null ? null : { path: r.clip, duration_seconds: r.clip_duration_s ?? 0, bytes: r.clip_bytes ?? 0 };
}

function parseTime(field: string, iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`${field} is not an ISO 8601 time: ${JSON.stringify(iso)}`);
  return ms;
}

/**
 * Events: each change of an event and the `{"type": change, "event": …}` message announcing it commit
 * together. Its revision grows with every change, so a consumer keeps the newest state whatever order
 * redelivered messages arrive in. Reading and ending open events stay with the store (agent/events/store.ts).
 */
export const events: RecordKind<EventRecord> = {
  name: "events",
  channels: [
    {
      id: "events",
      address: "events",
      schemaName: "EventMessage",
      schema: eventMessageSchema,
      title: "Event lifecycle",
      description:
        "new / update / end of each event, QoS 1 from the durable outbox: per camera in order; after a reconnect a message may repeat, always with the same event id.",
      fleet: {
        record: {
          from: (m) => {
            if (!(String(m.type) in EVENT_STAGE)) throw new Error(`'type' is ${JSON.stringify(m.type)}, not new, update or end`);
            if (!m.event || typeof m.event !== "object") throw new Error("'event' missing");
            return m.event as Record<string, unknown>;
          },
          schema: eventSchema,
        },
        // Devices that send no revision: the lifecycle stage orders them (an end is never replaced by an update).
        revision: (_e, m) => (typeof m.revision === "number" ? m.revision : EVENT_STAGE[String(m.type)]!),
        time: "start_time",
      },
    },
  ],
  migrations: [
    { version: 1, name: "revision of each event", up: (db) => db.exec("ALTER TABLE events ADD COLUMN revision INTEGER NOT NULL DEFAULT 0") },
    {
      version: 2,
      name: "event clips",
      up: (db) =>
        db.exec(
          "ALTER TABLE events ADD COLUMN clip TEXT; ALTER TABLE events ADD COLUMN clip_duration_s REAL; ALTER TABLE events ADD COLUMN clip_bytes INTEGER",
        ),
    },
  ],
  write(db, r) {
    const ev = r.event;
    const row = db
      .prepare(`
        INSERT INTO events (id, device, camera, label, start_ms, end_ms, top_score, box, snapshot, updated_ms, track, revision, clip, clip_duration_s, clip_bytes)
        VALUES (@id, @device, @camera, @label, @start_ms, @end_ms, @top_score, @box, @snapshot, @updated_ms, @track, 1, @clip, @clip_duration_s, @clip_bytes)
        ON CONFLICT (id) DO UPDATE SET
          device = excluded.device, camera = excluded.camera, label = excluded.label,
          start_ms = excluded.start_ms, end_ms = excluded.end_ms, top_score = excluded.top_score,
          box = excluded.box, snapshot = excluded.snapshot, updated_ms = excluded.updated_ms, track = excluded.track,
          revision = revision + 1,
          clip = COALESCE(excluded.clip, clip), clip_duration_s = COALESCE(excluded.clip_duration_s, clip_duration_s),
          clip_bytes = COALESCE(excluded.clip_bytes, clip_bytes)
        RETURNING revision, clip, clip_duration_s, clip_bytes`)
      .get({
        id: ev.id,
        device: ev.device,
        camera: ev.camera,
        label: ev.label,
        start_ms: parseTime("start_time", ev.start_time),
        end_ms: ev.end_time === null ? null : parseTime("end_time", ev.end_time),
        top_score: ev.top_score,
        box: JSON.stringify(ev.box),
        snapshot: ev.snapshot,
        updated_ms: Date.now(),
        track: trackJson(ev),
        clip: ev.clip?.path ?? null,
        clip_duration_s: ev.clip?.duration_seconds ?? null,
        clip_bytes: ev.clip?.bytes ?? null,
      }) as { revision: number } & ClipColumns;
    // A clip once written stays with the event: a later change that does not carry it still announces it.
    const event = ev.clip === undefined && row.clip === null ? ev : { ...ev, clip: clipOf(row) };
    return [{ topic: EVENTS_TOPIC, payload: { type: r.change, event, revision: row.revision, ...(r.reason ? { reason: r.reason } : {}) }, retain: false }];
  },
  counter: {
    name: "eva_events_total",
    help: "Events started (confirmed tracks), by camera and label",
    labelNames: ["camera", "label"],
    labels: (r) => (r.change === "new" ? { camera: r.camera, label: r.event.label } : null),
  },
};
