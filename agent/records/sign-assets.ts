import type Database from "better-sqlite3";
import { z } from "zod";
import type { RuleConfig } from "../analytics/camera-analytics.js";
import { AssetPasses, type PlacedSighting, type SignAsset, type SignAssetBook } from "../analytics/sign-assets.js";
import { emit, type AnalyticsRule, type Emitted, type RecordKind, type RuleFrame } from "../core/records.js";
import { emitAlarm } from "./alarms.js";
import { sightings, type SightingRecord } from "./sightings.js";
import { cameraName, deviceId, time } from "./schema-parts.js";

export const SIGN_ASSETS_TOPIC = "sign_assets";
/** retained: how many signs the inventory holds, and how many are missing or changed */
export const SIGN_INVENTORY_TOPIC = "sign_assets/summary";

export const signInventorySchema = z
  .looseObject({
    assets: z.number().int().min(0),
    missing: z.number().int().min(0).describe("assets in state missing"),
    changed: z.number().int().min(0).describe("assets where another class has been seen since"),
    time: time.describe("the change that made these figures"),
  })
  .describe("the sign inventory's figures, retained");

export type SignAssetRecord = SignAsset & { device: string };

export const signAssetSchema = z
  .looseObject({
    id: z.string().describe("asset id (ULID), kept for as long as the sign is in the inventory"),
    camera: cameraName.describe("the camera whose pass changed it last"),
    label: z.string().describe("sign class"),
    lat: z.number().describe("mean of its sightings' estimated positions (WGS 84)"),
    lon: z.number(),
    heading: z.number().describe("the heading it is passed with, degrees from north"),
    first_seen: time,
    last_seen: time,
    passes_seen: z.number().int().min(0),
    passes_missed: z.number().int().min(0),
    missed_in_a_row: z.number().int().min(0).describe("passes without it since it was last seen"),
    sightings: z.number().int().min(1),
    best_sighting: z.string().describe("id of the sighting with the closest view"),
    snapshot: z.string().nullable().describe("that sighting's snapshot"),
    state: z.enum(["present", "missing"]),
    changed_to: z.string().nullable().describe("another class seen at its place since it was last seen"),
    device: deviceId.optional(),
  })
  .describe("a sign in the inventory, as its latest pass left it");

interface Row {
  id: string;
  device: string;
  camera: string;
  label: string;
  lat: number;
  lon: number;
  heading: number;
  first_ms: number;
  last_ms: number;
  passes_seen: number;
  passes_missed: number;
  missed_in_a_row: number;
  sightings: number;
  best_sighting: string;
  snapshot: string | null;
  best_box_height: number;
  state: "present" | "missing";
  changed_to: string | null;
}

const fromRow = (r: Row): SignAssetRecord => ({
  id: r.id,
  device: r.device,
  camera: r.camera,
  label: r.label,
  lat: r.lat,
  lon: r.lon,
  heading: r.heading,
  first_seen: new Date(r.first_ms).toISOString(),
  last_seen: new Date(r.last_ms).toISOString(),
  passes_seen: r.passes_seen,
  passes_missed: r.passes_missed,
  missed_in_a_row: r.missed_in_a_row,
  sightings: r.sightings,
  best_sighting: r.best_sighting,
  snapshot: r.snapshot,
  best_box_height: r.best_box_height,
  state: r.state,
  changed_to: r.changed_to,
});

/** The stored inventory, oldest first (what a new SignAssetBook starts from). */
export function loadSignAssets(db: Database.Database, q: { label?: string } = {}): SignAssetRecord[] {
  return (db.prepare("SELECT * FROM sign_assets WHERE (@label IS NULL OR label = @label) ORDER BY first_ms, id").all({ label: q.label ?? null }) as Row[]).map(
    fromRow,
  );
}

/**
 * The sign inventory: located sightings of one class at one place across passes, merged into one asset each
 * (agent/analytics/sign-assets.ts decides). A changed asset is stored whole and queued on `sign_assets`.
 */
export const signAssets: RecordKind<SignAssetRecord, RuleConfig> = {
  name: "sign_assets",
  channels: [
    {
      id: "signAssets",
      address: SIGN_ASSETS_TOPIC,
      schemaName: "SignAsset",
      schema: signAssetSchema,
      title: "Sign inventory",
      description: "A sign of the inventory whenever a pass changes it: seen again, missed, missing or changed.",
    },
    {
      id: "signInventory",
      address: SIGN_INVENTORY_TOPIC,
      schemaName: "SignInventory",
      schema: signInventorySchema,
      title: "Sign inventory figures",
      description: "How many signs the inventory holds and how many are missing or changed, after every change.",
      retained: true,
    },
  ],
  migrations: [
    {
      version: 1,
      name: "sign inventory: one row per physical sign",
      up(db) {
        db.exec(`
          CREATE TABLE sign_assets (
            id              TEXT PRIMARY KEY,
            device          TEXT NOT NULL,
            camera          TEXT NOT NULL,
            label           TEXT NOT NULL,
            lat             REAL NOT NULL,
            lon             REAL NOT NULL,
            heading         REAL NOT NULL,
            first_ms        INTEGER NOT NULL,
            last_ms         INTEGER NOT NULL,
            passes_seen     INTEGER NOT NULL,
            passes_missed   INTEGER NOT NULL,
            missed_in_a_row INTEGER NOT NULL,
            sightings       INTEGER NOT NULL,
            best_sighting   TEXT NOT NULL,
            snapshot        TEXT,
            best_box_height REAL NOT NULL,
            state           TEXT NOT NULL,
            changed_to      TEXT
          );
          CREATE INDEX sign_assets_last ON sign_assets (last_ms);
        `);
      },
    },
  ],
  write(db, a) {
    db.prepare(`
      INSERT OR REPLACE INTO sign_assets (id, device, camera, label, lat, lon, heading, first_ms, last_ms, passes_seen, passes_missed, missed_in_a_row,
        sightings, best_sighting, snapshot, best_box_height, state, changed_to)
      VALUES (@id, @device, @camera, @label, @lat, @lon, @heading, @first_ms, @last_ms, @passes_seen, @passes_missed, @missed_in_a_row,
        @sightings, @best_sighting, @snapshot, @best_box_height, @state, @changed_to)`).run({
      id: a.id,
      device: a.device,
      camera: a.camera,
      label: a.label,
      lat: a.lat,
      lon: a.lon,
      heading: a.heading,
      first_ms: Date.parse(a.first_seen),
      last_ms: Date.parse(a.last_seen),
      passes_seen: a.passes_seen,
      passes_missed: a.passes_missed,
      missed_in_a_row: a.missed_in_a_row,
      sightings: a.sightings,
      best_sighting: a.best_sighting,
      snapshot: a.snapshot,
      best_box_height: a.best_box_height,
      state: a.state,
      changed_to: a.changed_to,
    });
    const figures = db
      .prepare(
        "SELECT COUNT(*) AS assets, COALESCE(SUM(state = 'missing'), 0) AS missing, COALESCE(SUM(changed_to IS NOT NULL), 0) AS changed FROM sign_assets",
      )
      .get() as { assets: number; missing: number; changed: number };
    return [
      { topic: SIGN_ASSETS_TOPIC, payload: a, retain: false },
      { topic: SIGN_INVENTORY_TOPIC, payload: { ...figures, time: a.last_seen }, retain: true },
    ];
  },
  discovery: (_camera, shapes, topic) =>
    shapes.placesSigns
      ? (["missing", "changed", "assets"] as const).map(
          (f) =>
            [
              "sensor",
              `sign_inventory_${f}`,
              {
                name: f === "assets" ? "Signs in the inventory" : `Signs ${f}`,
                state_topic: topic(SIGN_INVENTORY_TOPIC),
                value_template: `{{ value_json.${f} }}`,
                state_class: "measurement",
                icon: f === "assets" ? "mdi:sign-direction" : "mdi:sign-direction-remove",
              },
            ] as const,
        )
      : [],
  list: (db, q) =>
    (
      db
        .prepare(
          "SELECT * FROM sign_assets WHERE (@label IS NULL OR label = @label) AND last_ms >= @since AND last_ms < @until ORDER BY last_ms DESC, id DESC LIMIT @limit",
        )
        .all({ label: q.label ?? null, since: q.sinceMs ?? 0, until: q.untilMs ?? Number.MAX_SAFE_INTEGER, limit: q.limit }) as Row[]
    ).map(fromRow),
  rule: (camera, c) => {
    const signs = c.analytics.signs;
    return signs?.assets.book && (c.camera.location || c.camera.gps) ? new SignAssetRule(camera, c, signs.assets.book) : null;
  },
};

const SIGHTINGS = sightings as unknown as Emitted["kind"];

/** A camera's passes through the sign inventory: its located sightings join assets, its passes without one are misses. */
export class SignAssetRule implements AnalyticsRule<RuleConfig> {
  private readonly passes: AssetPasses;
  private config: RuleConfig;

  constructor(camera: string, c: RuleConfig, book: SignAssetBook) {
    this.config = c;
    this.passes = new AssetPasses(camera, book, c.analytics.newId);
  }

  observe(frame: RuleFrame): Emitted[] {
    const signs = this.config.analytics.signs;
    if (!signs) return [];
    const placed: PlacedSighting[] = [];
    for (const e of frame.emitted) {
      if (e.kind !== SIGHTINGS) continue;
      const s = e.record as SightingRecord;
      if (s.sign_lat == null || s.sign_lon == null || s.heading == null) continue;
      placed.push({
        id: s.id,
        label: s.label,
        time: Date.parse(s.last_seen),
        sign: { lat: s.sign_lat, lon: s.sign_lon },
        heading: s.heading,
        box_height: s.box[3] - s.box[1],
        snapshot: s.snapshot,
      });
    }
    const labels = signs.labels;
    const inView = frame.live.some((t) => t.confirmed && (!labels || labels.includes(t.label)));
    const step = this.passes.observe(frame.time, frame.fix, placed, inView, signs.assets);
    return [...step.changed.map((a) => emit(signAssets, { ...a })), ...step.alarms.map(emitAlarm)];
  }

  reconfigure(c: RuleConfig): Emitted[] {
    this.config = c;
    if (c.analytics.signs?.assets.book) this.passes.useBook(c.analytics.signs.assets.book);
    return [];
  }

  endAll(): Emitted[] {
    return [];
  }
}
