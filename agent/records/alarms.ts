import { z } from "zod";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import { SignWatch, type SignAlarm } from "../analytics/sign-watch.js";
import type { AssetAlarm } from "../analytics/sign-assets.js";
import type { ZoneAlarm } from "../analytics/zones.js";
import type { AnalyticsRule, Emitted, RecordKind, RuleFrame } from "../core/records.js";
import { cameraName, deviceId, required, revision, time } from "./schema-parts.js";

export const ALARMS_TOPIC = "alarms";

export const alarmSchema = z
  .looseObject({
    id: z.string().optional().describe("alarm id, for ack_alarm and clear_alarm"),
    type: z.enum(["loitering", "overcrowding", "sign_missing", "sign_changed", "camera_offline"]),
    state: z.enum(["raised", "acknowledged", "cleared"]),
    camera: cameraName,
    zone: z.string().optional(),
    time: time.describe("when this state was entered"),
    reason: z.string().nullable().optional(),
    by: z.enum(["agent", "operator"]).optional().describe("who acknowledged or cleared it"),
    label: z.string().optional().describe("loitering: the object's label; sign_missing: the expected sign"),
    track_id: z.number().optional().describe("loitering: the track that stays"),
    count: z.number().int().optional().describe("overcrowding: objects in the zone"),
    max_objects: z.number().int().optional().describe("overcrowding: the zone's limit"),
    missing_after_seconds: z.number().optional().describe("sign_missing (sign watch): the configured grace"),
    asset: z.string().optional().describe("sign_missing, sign_changed: the sign inventory's asset"),
    new_label: z.string().optional().describe("sign_changed: the class now seen at the sign's place"),
    lat: z.number().optional().describe("sign_missing, sign_changed: the sign's place"),
    lon: z.number().optional(),
    missed_passes: z.number().int().optional().describe("sign_missing: passes in a row without the sign"),
    device: deviceId.optional(),
    revision: revision.optional().describe("grows with every state of this alarm (raised, acknowledged, cleared)"),
  })
  .describe("an alarm changed state");
export type AlarmPayload = z.infer<typeof alarmSchema>;

export type AlarmRecord = AlarmPayload & { id: string; device: string };

/**
 * Alarms as they are raised, acknowledged and cleared (the control-room API's alarm book decides that): each
 * state is stored with a revision per alarm and queued on `alarms` in one transaction.
 */
export const alarms: RecordKind<AlarmRecord, RuleConfig> = {
  name: "alarms",
  channels: [
    {
      id: "alarms",
      address: "alarms",
      schemaName: "Alarm",
      schema: alarmSchema,
      title: "Alarms",
      description: "loitering, overcrowding, sign_missing, sign_changed and camera_offline alarms as they are raised, acknowledged and cleared.",
      fleet: {
        // One row per state an alarm entered; alarms without an id are named by what raised them and when.
        key: (a) =>
          `${typeof a.id === "string" && a.id ? a.id : `${required(a, "type")}/${required(a, "camera")}/${typeof a.zone === "string" ? a.zone : ""}/${required(a, "time")}`}/${required(a, "state")}`,
        columns: { alarm_id: { type: "text", from: (a) => (typeof a.id === "string" ? a.id : null) } },
      },
    },
  ],
  migrations: [
    {
      version: 1,
      name: "alarms, latest state per alarm",
      up(db) {
        db.exec(`
          CREATE TABLE alarms (
            id       TEXT PRIMARY KEY,
            device   TEXT NOT NULL,
            camera   TEXT NOT NULL,
            type     TEXT NOT NULL,
            zone     TEXT,
            state    TEXT NOT NULL,
            time_ms  INTEGER NOT NULL,
            revision INTEGER NOT NULL,
            payload  TEXT NOT NULL  -- JSON, as published
          );
          CREATE INDEX alarms_time ON alarms (time_ms);
        `);
      },
    },
  ],
  write(db, a) {
    const row = {
      id: a.id,
      device: a.device,
      camera: a.camera,
      type: a.type,
      zone: a.zone ?? null,
      state: a.state,
      time_ms: Date.parse(a.time),
      payload: JSON.stringify(a),
    };
    const { revision } = db
      .prepare(`
        INSERT INTO alarms (id, device, camera, type, zone, state, time_ms, revision, payload) VALUES (@id, @device, @camera, @type, @zone, @state, @time_ms, 1, @payload)
        ON CONFLICT (id) DO UPDATE SET state = excluded.state, time_ms = excluded.time_ms, revision = revision + 1, payload = excluded.payload
        RETURNING revision`)
      .get(row) as { revision: number };
    return [{ topic: ALARMS_TOPIC, payload: { ...a, revision }, retain: false }];
  },
  prune: (db, beforeMs) => void db.prepare("DELETE FROM alarms WHERE time_ms < ? AND state = 'cleared'").run(beforeMs),
  counter: {
    name: "eva_alarms_raised_total",
    help: "Alarms raised, by camera and type",
    labelNames: ["camera", "type"],
    labels: (a) => (a.state === "raised" ? { camera: a.camera, type: a.type } : null),
  },
  list: (db, q) =>
    (
      db
        .prepare(
          "SELECT payload, revision FROM alarms WHERE (@camera IS NULL OR camera = @camera) AND time_ms >= @since AND time_ms < @until ORDER BY time_ms DESC, id DESC LIMIT @limit",
        )
        .all({ camera: q.camera ?? null, since: q.sinceMs ?? 0, until: q.untilMs ?? Number.MAX_SAFE_INTEGER, limit: q.limit }) as Array<{
        payload: string;
        revision: number;
      }>
    ).map((r) => ({ ...(JSON.parse(r.payload) as object), revision: r.revision })),
  rule: (_camera, c) => SignWatchRule.forCamera(c),
};

/** An analytics alarm a rule raises or clears; the events stage hands it to the alarm book, which gives it its id. */
export type RuleAlarm = ZoneAlarm | SignAlarm | AssetAlarm;

export const emitAlarm = (a: RuleAlarm): Emitted => ({ kind: alarms as unknown as Emitted["kind"], record: a });

const watchOf = (c: RuleConfig): SignWatch | null => (c.analytics.signs?.watch.length ? new SignWatch(c.analytics.signs.watch) : null);

/** Sign watch of a fixed camera: `sign_missing` alarms for the expected signs (signs.watch) not seen in their zones. */
export class SignWatchRule implements AnalyticsRule<RuleConfig> {
  private watch: SignWatch | null;
  private settings: string;

  constructor(c: RuleConfig) {
    this.settings = JSON.stringify(c.analytics.signs);
    this.watch = watchOf(c);
  }

  static forCamera(c: RuleConfig): SignWatchRule | null {
    return c.analytics.signs?.watch.length ? new SignWatchRule(c) : null;
  }

  observe(frame: RuleFrame): Emitted[] {
    return this.watch?.observe(frame.time, frame.detections, frame.usable).map(emitAlarm) ?? [];
  }

  /** Edited signs start watching afresh; unchanged ones keep counting. */
  reconfigure(c: RuleConfig): Emitted[] {
    const next = JSON.stringify(c.analytics.signs);
    if (next !== this.settings) {
      this.settings = next;
      this.watch = watchOf(c);
    }
    return [];
  }

  endAll(): Emitted[] {
    return [];
  }
}
