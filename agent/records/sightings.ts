import { z } from "zod";
import type { Box } from "../core/geometry.js";
import { area, type CameraAnalyticsOptions, type RuleConfig } from "../analytics/camera-analytics.js";
import { SignSightings, type SignSighting } from "../analytics/sign-sightings.js";
import type { EvaEvent } from "../core/event.js";
import type { Fix, FixQuality } from "../core/fix.js";
import { signPosition, type SignOptics } from "../geo/sign-position.js";
import { emit, type AnalyticsRule, type Emitted, type RecordKind, type RuleFrame } from "../core/records.js";
import type { Track } from "../core/track.js";
import { cameraName, deviceId, time } from "./schema-parts.js";

export const SIGNS_TOPIC = "signs";

export type { SignSighting };

/** Where the camera was at the best view, and where that puts the sign; all null (fix "none") when unlocated. */
export interface SightingPlace {
  lat: number | null;
  lon: number | null;
  heading: number | null;
  /** m/s */
  speed: number | null;
  fix: FixQuality;
  sign_lat: number | null;
  sign_lon: number | null;
}

/** The place is absent on records written before sightings had one (the store reads them as unlocated). */
export type SightingRecord = SignSighting & Partial<SightingPlace> & { device: string };

const unlocated: SightingPlace = { lat: null, lon: null, heading: null, speed: null, fix: "none", sign_lat: null, sign_lon: null };

const round = (v: number | null, digits: number) => (v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits);

/** The camera's fix at the best view and the sign's estimated place from its box (agent/geo/sign-position.ts). */
export function sightingPlace(fix: Fix | null, box: SignSighting["box"], optics: SignOptics | undefined): SightingPlace {
  if (!fix) return unlocated;
  const sign = optics ? signPosition(fix, box, optics) : null;
  return {
    lat: round(fix.lat, 7),
    lon: round(fix.lon, 7),
    heading: round(fix.heading, 1),
    speed: round(fix.speed, 2),
    fix: fix.fix,
    sign_lat: round(sign?.lat ?? null, 7),
    sign_lon: round(sign?.lon ?? null, 7),
  };
}

const nullableNumber = (what: string) => z.number().nullable().optional().describe(what);

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
    lat: nullableNumber("camera latitude at the best view (WGS 84); null: no fix"),
    lon: nullableNumber("camera longitude at the best view"),
    heading: nullableNumber("camera heading, degrees from north"),
    speed: nullableNumber("camera speed, m/s"),
    fix: z.enum(["fixed", "2d", "3d", "dgps", "none"]).optional().describe("how the camera's position was known; none: the sighting is unlocated"),
    sign_lat: nullableNumber("the sign's estimated latitude (from the box height and the sign's standard size)"),
    sign_lon: nullableNumber("the sign's estimated longitude"),
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
  lat: number | null;
  lon: number | null;
  heading: number | null;
  speed: number | null;
  fix: string | null;
  sign_lat: number | null;
  sign_lon: number | null;
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
    lat: r.lat ?? null,
    lon: r.lon ?? null,
    heading: r.heading ?? null,
    speed: r.speed ?? null,
    fix: (r.fix as FixQuality | null) ?? "none",
    sign_lat: r.sign_lat ?? null,
    sign_lon: r.sign_lon ?? null,
  };
}

/** Traffic-sign sightings, one per physical sign per pass: stored and queued on `signs` together. */
export const sightings: RecordKind<SightingRecord, RuleConfig> = {
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
  migrations: [
    { version: 1, name: "device on sign sightings", up: (db) => db.exec("ALTER TABLE sign_sightings ADD COLUMN device TEXT") },
    {
      version: 2,
      name: "camera position and sign position on sign sightings",
      up: (db) => {
        for (const c of ["lat REAL", "lon REAL", "heading REAL", "speed REAL", "fix TEXT", "sign_lat REAL", "sign_lon REAL"])
          db.exec(`ALTER TABLE sign_sightings ADD COLUMN ${c}`);
      },
    },
  ],
  write(db, s) {
    db.prepare(`
      INSERT OR REPLACE INTO sign_sightings (id, camera, label, score, first_ms, last_ms, box, track_id, snapshot, device, lat, lon, heading, speed, fix, sign_lat, sign_lon)
      VALUES (@id, @camera, @label, @score, @first_ms, @last_ms, @box, @track_id, @snapshot, @device, @lat, @lon, @heading, @speed, @fix, @sign_lat, @sign_lon)`).run(
      {
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
        lat: s.lat ?? null,
        lon: s.lon ?? null,
        heading: s.heading ?? null,
        speed: s.speed ?? null,
        fix: s.fix ?? "none",
        sign_lat: s.sign_lat ?? null,
        sign_lon: s.sign_lon ?? null,
      },
    );
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
  rule: (camera, c) => (c.analytics.signs ? new SightingRule(camera, c.analytics) : null),
};

/**
 * A camera's traffic-sign passes: the frame with a pass's best view is kept for its snapshot, and the pass is
 * recorded, with the JPEG of that view (box and class drawn), once its track ends.
 */
export class SightingRule implements AnalyticsRule<RuleConfig> {
  private passes: SignSightings | null;
  private labels: readonly string[] | undefined;
  /** the sign tracks of the last frame: they end with the camera */
  private live: Track[] = [];
  /** where the camera was at each pass's best view so far */
  private readonly fixes = new Map<string, Fix | null>();
  private optics: SignOptics | undefined;

  constructor(
    private readonly camera: string,
    opts: CameraAnalyticsOptions,
  ) {
    this.passes = new SignSightings(camera, opts.newId);
    this.labels = opts.signs?.labels;
    this.optics = opts.signs?.optics;
  }

  observe(frame: RuleFrame): Emitted[] {
    if (!this.passes) return [];
    this.live = frame.live.filter((t) => t.confirmed && this.isSign(t.label));
    const step = this.passes.observe(
      this.live,
      frame.ended.filter((t) => this.isSign(t.label)),
      frame.quality,
    );
    for (const s of step.improved) {
      const file = frame.snapshot(s);
      if (!s.snapshot) this.passes.setSnapshot(s.id, file);
      this.fixes.set(s.id, frame.fix);
    }
    return step.done.map((s) => this.recorded(s));
  }

  /** Signs switched off drop the passes in progress; otherwise they go on under the new labels. */
  reconfigure(c: RuleConfig): Emitted[] {
    this.passes = c.analytics.signs ? (this.passes ?? new SignSightings(this.camera, c.analytics.newId)) : null;
    this.labels = c.analytics.signs?.labels;
    this.optics = c.analytics.signs?.optics;
    if (!this.passes) {
      this.live = [];
      this.fixes.clear();
    }
    return [];
  }

  endAll(): Emitted[] {
    const ended = this.live;
    this.live = [];
    return this.passes?.observe([], ended, area).done.map((s) => this.recorded(s)) ?? [];
  }

  /** A finished pass, placed where the camera was at its best view, with the picture of that view. */
  private recorded(s: SignSighting): Emitted {
    const fix = this.fixes.get(s.id) ?? null;
    this.fixes.delete(s.id);
    return recorded({ ...s, ...sightingPlace(fix, s.box, this.optics) });
  }

  private isSign(label: string): boolean {
    return !this.labels || this.labels.includes(label);
  }
}

/** A finished pass, with the picture of its best view. */
function recorded(s: SignSighting & SightingPlace): Emitted {
  const picture: EvaEvent = {
    id: s.id,
    device: "",
    camera: s.camera,
    label: s.label,
    start_time: s.first_seen,
    end_time: s.last_seen,
    top_score: s.score,
    box: s.box,
    snapshot: s.snapshot,
  };
  return emit(sightings, s, picture);
}
