import { z } from "zod";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import { ZoneAnalytics, type Occupancy, type ZoneSpec, type ZoneStep } from "../analytics/zones.js";
import { emit, type AnalyticsRule, type Emitted, type RecordEnvelope, type RecordKind, type RuleFrame } from "../core/records.js";
import { emitAlarm } from "./alarms.js";
import { cameraName, deviceId, recordId, revision, time } from "./schema-parts.js";

export const occupancyTopic = (camera: string, zone: string): string => `occupancy/${camera}/${zone}`;

export interface OccupancyRecord extends RecordEnvelope {
  zone: string;
  /** objects in the zone now, per label */
  counts: Record<string, number>;
  total: number;
  /** ms since epoch */
  time: number;
}

export const occupancySchema = z
  .looseObject({
    zone: z.string(),
    camera: cameraName,
    counts: z.record(z.string(), z.number().int().min(0)).describe("objects in the zone now, per label"),
    total: z.number().int().min(0),
    id: recordId.optional(),
    device: deviceId.optional(),
    revision: revision.optional().describe("grows with every change of this zone's occupancy, across restarts"),
    time: time.optional().describe("when it changed"),
  })
  .describe("retained on occupancy/<camera>/<zone> whenever it changes");

/** A zone's occupancy, stored as its latest state with a revision that survives restarts. */
export const occupancy: RecordKind<OccupancyRecord, RuleConfig> = {
  name: "occupancy",
  channels: [
    {
      id: "occupancy",
      address: "occupancy/{camera}/{zone}",
      schemaName: "Occupancy",
      schema: occupancySchema,
      title: "Zone occupancy",
      retained: true,
      description: "Retained; objects in the zone per label, published when it changes.",
    },
  ],
  migrations: [
    {
      version: 1,
      name: "zone occupancy, latest state per zone",
      up(db) {
        db.exec(`
          CREATE TABLE occupancy (
            camera    TEXT NOT NULL,
            zone      TEXT NOT NULL,
            counts    TEXT NOT NULL,  -- JSON {label: objects}
            total     INTEGER NOT NULL,
            revision  INTEGER NOT NULL,
            time_ms   INTEGER NOT NULL,
            record_id TEXT NOT NULL,
            device    TEXT NOT NULL,
            PRIMARY KEY (camera, zone)
          );
        `);
      },
    },
  ],
  write(db, o) {
    const { revision } = db
      .prepare(`
        INSERT INTO occupancy (camera, zone, counts, total, revision, time_ms, record_id, device) VALUES (@camera, @zone, @counts, @total, 1, @time, @id, @device)
        ON CONFLICT (camera, zone) DO UPDATE SET counts = excluded.counts, total = excluded.total, revision = revision + 1,
          time_ms = excluded.time_ms, record_id = excluded.record_id, device = excluded.device
        RETURNING revision`)
      .get({ camera: o.camera, zone: o.zone, counts: JSON.stringify(o.counts), total: o.total, time: o.time, id: o.id, device: o.device }) as {
      revision: number;
    };
    const payload = {
      zone: o.zone,
      camera: o.camera,
      counts: o.counts,
      total: o.total,
      id: o.id,
      device: o.device,
      revision,
      time: new Date(o.time).toISOString(),
    };
    return [{ topic: occupancyTopic(o.camera, o.zone), payload, retain: true }];
  },
  list: (db, q) =>
    (
      db
        .prepare(
          "SELECT camera, zone, counts, total, revision, time_ms FROM occupancy WHERE (@camera IS NULL OR camera = @camera) ORDER BY camera, zone LIMIT @limit",
        )
        .all({ camera: q.camera ?? null, limit: q.limit }) as Array<{ counts: string; time_ms: number } & Record<string, unknown>>
    ).map(({ counts, time_ms, ...o }) => ({ ...o, counts: JSON.parse(counts) as Record<string, number>, time: new Date(time_ms).toISOString() })),
  rule: (_camera, c) => (c.analytics.zones.length ? new ZoneRule(c.analytics.zones) : null),
};

/**
 * A camera's zones: occupancy per zone (retained, when it changes) and the zones' loitering and overcrowding
 * alarms. An edit empties the old zones first (occupancy to zero, alarms cleared), then the new ones start empty.
 */
export class ZoneRule implements AnalyticsRule<RuleConfig> {
  private zones: ZoneAnalytics;

  constructor(specs: readonly ZoneSpec[]) {
    this.zones = new ZoneAnalytics(specs);
  }

  start(time: number): Emitted[] {
    return this.occupancy(this.zones.initial(), time);
  }

  observe(frame: RuleFrame): Emitted[] {
    return this.step(
      this.zones.observe(
        frame.time,
        frame.live.filter((t) => t.confirmed),
      ),
      frame.time,
    );
  }

  reconfigure(c: RuleConfig, time: number): Emitted[] {
    const out = this.endAll(time);
    this.zones = new ZoneAnalytics(c.analytics.zones);
    return [...out, ...this.start(time)];
  }

  endAll(time: number): Emitted[] {
    return this.step(this.zones.observe(time, []), time);
  }

  private step(step: ZoneStep, time: number): Emitted[] {
    return [...step.alarms.map(emitAlarm), ...this.occupancy(step.occupancy, time)];
  }

  private occupancy(changes: readonly Occupancy[], time: number): Emitted[] {
    return changes.map((o) => emit(occupancy, { zone: o.zone, counts: o.counts, total: o.total, time }));
  }
}
